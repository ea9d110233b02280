#!/usr/bin/env bash
# Sets up this machine (scripts/setup.sh) and runs every check: formatting,
# clippy, unit tests, the CLI's error paths, and the integration tests
# against real podman, docker, git, ssh-agent, sshd and containerd.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export CONTAINERS_CONF="$root/scripts/containers.conf"
cargo fmt --all --check
cargo clippy --workspace --all-targets -q -- -D warnings
exec cargo test --workspace "$@"
