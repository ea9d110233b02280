#!/usr/bin/env bash
# Sets up this machine and runs the main job on the example app: build
# joke:0.0.3 for amd64 and arm64 with `cargo xtask image`, then run both.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export CONTAINERS_CONF="$root/scripts/containers.conf"
# No network here: resolve Go from the local mirror of the Go tags.
export GOAPP_GO_REPO="$root/target/goapp-fixtures/go-tags.git"
cd example/joke
cargo xtask go-version
cargo xtask image
for arch in amd64 arm64; do
  # --arch: the image's own platform, so podman runs the arm64 one under
  # emulation without warning that it is not the host's.
  podman run --rm --arch "$arch" "localhost/joke:0.0.3-$arch"
done
