#!/usr/bin/env bash
# The benchmark, from a fresh machine, in one command: set up, then measure
# the shell flow (build.sh's commands, a published-style Containerfile that
# builds every architecture under emulation, `save | gzip | ssh` + ctr
# import) against goapp-build on the same app, on this machine, in one run.
# Writes docs/BENCHMARKS.md. Then the fan-out (scripts/bench_fanout.py):
# direct ssh to 1, 3 and 6 nodes against push once to a site registry and
# pull, and re-ship costs per import kind; it writes its own section.
# Usage: scripts/bench.sh [RUNS] [fanout]   (default 3; `fanout`: only that part)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export CONTAINERS_CONF="$root/scripts/containers.conf"
# The shell flow's Containerfile builds arm64 under emulation: it needs an
# arm64 Go builder (Docker Hub's is multi-arch; offline we make one).
gover="$(cat target/goapp-fixtures/go-version)"
if ! podman image exists "localhost/goapp-bench/golang:$gover-arm64"; then
  echo "bench: making the arm64 Go builder (under emulation, ~1 min)" >&2
  scripts/make-go-builder.sh arm64 "localhost/goapp-bench/golang:$gover-arm64" podman
fi
cargo build --quiet --package xtask
if [ "${2:-}" != fanout ]; then
  python3 scripts/bench.py "${1:-3}"
fi
exec python3 scripts/bench_fanout.py "${1:-3}"
