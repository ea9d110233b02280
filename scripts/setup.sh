#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (root) for goapp-build: the engines, Go,
# OpenSSH, containerd, an OCI registry server and skopeo (for `push` and
# `pull_from:` tests), emulation, and the local stand-ins for what no registry
# or proxy can give us here (a Go builder image, a mirror of the Go tags).
# Idempotent: a second run only checks.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
fixtures="${GOAPP_FIXTURES:-$root/target/goapp-fixtures}"
mkdir -p "$fixtures"
log() { printf 'setup: %s\n' "$*" >&2; }

packages=(podman docker.io golang-go openssh-server openssh-client containerd
  qemu-user-static binfmt-support busybox-static iproute2 zstd gzip uidmap
  git ca-certificates docker-registry skopeo make debootstrap)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Podman on these VMs needs runc and lower rlimits. The product never touches
# the user's containers.conf; our scripts and tests point CONTAINERS_CONF here.
export CONTAINERS_CONF="$root/scripts/containers.conf"

# Emulation for arm64 containers (running the arm64 image of the example app).
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || log "cannot mount binfmt_misc"
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || log "warning: qemu-aarch64 is not registered in binfmt_misc"

# Debian's docker.io daemon, started by hand (no init system here).
DOCKER=/usr/bin/docker
if ! "$DOCKER" info >/dev/null 2>&1; then
  log "starting dockerd"
  nohup dockerd >/var/log/goapp-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.5; done
  "$DOCKER" info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/goapp-dockerd.log"; exit 1; }
fi

# A Go builder image made from Debian's packages, tagged with the name a
# Containerfile asks for, so `FROM docker.io/library/golang:<ver>-bookworm`
# resolves without a registry. Args: debian arch (amd64|arm64).
gover="$(dpkg-query -W -f='${Version}' golang-1.19-go | sed 's/-.*//')"
echo "$gover" >"$fixtures/go-version"
builder_image() {
  local arch="$1"
  local tag="docker.io/library/golang:$gover-bookworm"
  local have_podman have_docker
  have_podman=$(podman image inspect --format '{{.Architecture}}' "$tag" 2>/dev/null || true)
  have_docker=$("$DOCKER" image inspect --format '{{.Architecture}}' "$tag" 2>/dev/null || true)
  if [ "$have_podman" = "$arch" ] && [ "$have_docker" = "$arch" ]; then return; fi
  log "making $tag for $arch"
  "$here/make-go-builder.sh" "$arch" "$tag" podman "$DOCKER"
}
builder_image "$(dpkg --print-architecture)"

# Published Containerfiles name the Go line (`golang:1.19-bookworm`) and build
# every architecture from it, so upstream's tag is a multi-arch index. Here:
# an arm64 builder (made under emulation once, ~15 s) and a local manifest
# list of both under that name, so `FROM` resolves per architecture as it
# does upstream. docker 20.10 has no local manifest lists: it gets the amd64
# image under the line's name (enough for builders on $BUILDPLATFORM).
line_tag="docker.io/library/golang:${gover%.*}-bookworm"
arm_builder="localhost/goapp-fixtures/golang:$gover-arm64"
host_builder="docker.io/library/golang:$gover-bookworm"
if [ "$(dpkg --print-architecture)" = amd64 ]; then
  if ! podman image exists "$arm_builder"; then
    log "making $arm_builder"
    "$here/make-go-builder.sh" arm64 "$arm_builder" podman
  fi
  want="$(podman image inspect --format '{{.Digest}}' "$host_builder" "$arm_builder" | sort | tr '\n' ' ')"
  have="$( { podman manifest inspect "$line_tag" 2>/dev/null || true; } | sed -n 's/.*"digest": "\(sha256:[0-9a-f]*\)".*/\1/p' | sort | tr '\n' ' ')"
  if [ "$want" != "$have" ]; then
    log "making the manifest list $line_tag (amd64, arm64)"
    podman manifest rm "$line_tag" >/dev/null 2>&1 || true
    podman manifest create "$line_tag" >/dev/null
    podman manifest add "$line_tag" "containers-storage:$host_builder" >/dev/null
    podman manifest add "$line_tag" "containers-storage:$arm_builder" >/dev/null
  fi
  if [ "$("$DOCKER" image inspect --format '{{.Id}}' "$line_tag" 2>/dev/null)" != "$("$DOCKER" image inspect --format '{{.Id}}' "$host_builder")" ]; then
    "$DOCKER" tag "$host_builder" "$line_tag"
  fi
fi

# A mirror of the Go repository's tags for `git ls-remote` (the real one is
# not reachable here). Irregular names on purpose, as upstream has them.
gorepo="$fixtures/go-tags.git"
if [ ! -d "$gorepo" ]; then
  log "making a Go tags mirror at $gorepo"
  "$here/make-go-tags-repo.sh" "$gorepo" >/dev/null
fi
log "ready: Go $gover builder image, GOAPP_GO_REPO=$gorepo"

# The corpus's base images (alpine, distroless, debian-slim, a Go builder
# with gcc), made from Debian's packages under their upstream names
# (tests/corpus.rs): about 3 minutes cold, seconds when they are there.
"$here/make-standins.sh"

# The engine matrix (podman 5.4/5.8, docker 26/28, containerd 1.7/2.1 from
# Debian trixie and sid, in roots of their own; tests/matrix.rs): made once,
# about 14 minutes cold, seconds when it is there.
"$here/matrix.sh" setup
