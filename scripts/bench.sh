#!/usr/bin/env bash
# The benchmark, from a fresh machine, in one command: set up, then measure
# the shell flow (build.sh's commands, `save | gzip | ssh` + ctr import)
# against goapp-build on the same app, on this machine, in one run. Both
# sides build the same Containerfiles (scripts/bench_builds.py). Writes
# docs/BENCHMARKS.md. Then the fan-out (scripts/bench_fanout.py): direct ssh
# to 1, 3 and 6 nodes against push once to a site registry and pull, and
# re-ship costs per import kind; it writes its own section. Then the corpus
# of real Dockerfile patterns (scripts/bench_corpus.py): the share
# cross-compiled, and cold builds against the per-arch podman flow. Then
# the no-op on every engine of the matrix (scripts/bench_engines.py).
# Usage: scripts/bench.sh [RUNS] [builds|fanout|corpus|engines]   (default 3;
# `builds`: the build figures only; `fanout`: only the fan-out; `corpus`:
# only the corpus; `engines`: only the no-op per engine)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export CONTAINERS_CONF="$root/scripts/containers.conf"
cargo build --quiet --package xtask
case "${2:-}" in
  corpus) exec python3 scripts/bench_corpus.py "${1:-3}" ;;
  builds) exec python3 scripts/bench.py "${1:-3}" builds ;;
  fanout) exec python3 scripts/bench_fanout.py "${1:-3}" ;;
  engines) exec python3 scripts/bench_engines.py "${1:-3}" ;;
esac
python3 scripts/bench.py "${1:-3}"
python3 scripts/bench_fanout.py "${1:-3}"
python3 scripts/bench_corpus.py "${1:-3}"
exec python3 scripts/bench_engines.py "${1:-3}"
