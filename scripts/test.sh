#!/usr/bin/env bash
# Sets up this machine (scripts/setup.sh) and runs every check: formatting,
# clippy, the library's docs (no broken links), unit tests, the CLI's error
# paths, and the integration tests against real podman, docker, git,
# ssh-agent, sshd and containerd.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export CONTAINERS_CONF="$root/scripts/containers.conf"
cargo fmt --all --check
cargo clippy --workspace --all-targets -q -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc -p goapp-build --no-deps --document-private-items -q
cargo test --workspace "$@"
# The suite shares this machine's podman store: it must be left listable
# (podman < 4.8 breaks on a manifest list next to a layerless image).
if ! podman images --quiet >/dev/null; then
  echo "test.sh: \`podman images\` fails after the suite: the store was left broken" >&2
  exit 1
fi
