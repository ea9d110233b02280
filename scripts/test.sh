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
exec cargo test --workspace "$@"
