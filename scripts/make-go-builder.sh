#!/usr/bin/env bash
# Makes a Go builder image from Debian's packages (Go, its libc, busybox for
# /bin/sh) in a FROM-scratch image, for builds without a registry.
# Usage: make-go-builder.sh DEBIAN_ARCH TAG ENGINE…   (ENGINE: podman, /usr/bin/docker)
set -euo pipefail
arch="$1"; tag="$2"; shift 2
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs" "$work/rootfs"
if [ "$arch" != "$(dpkg --print-architecture)" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
  dpkg --add-architecture "$arch"
  apt-get update -qq
fi
chmod 777 "$work/debs"
(cd "$work/debs" && apt-get download -qq "golang-1.19-go:$arch" golang-1.19-src "libc6:$arch" "busybox-static:$arch" >/dev/null 2>&1)
for d in "$work"/debs/*.deb; do dpkg-deb -x "$d" "$work/rootfs"; done
rm -rf "$work/rootfs/usr/share/doc" "$work/rootfs/usr/share/man"
mkdir -p "$work/rootfs/tmp" "$work/rootfs/root" "$work/rootfs/etc" "$work/rootfs/usr/local"
chmod 1777 "$work/rootfs/tmp"
ln -sfn /usr/lib/go-1.19 "$work/rootfs/usr/local/go"
echo 'root:x:0:0:root:/root:/bin/sh' >"$work/rootfs/etc/passwd"
cat >"$work/Containerfile" <<CF
FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/usr/local/go/bin:/bin:/usr/bin HOME=/root GOPATH=/go
WORKDIR /go
CF
for engine in "$@"; do
  case "$engine" in
    *docker) DOCKER_BUILDKIT=0 "$engine" build -q --platform "linux/$arch" -t "$tag" -f "$work/Containerfile" "$work" >/dev/null ;;
    *) "$engine" build -q --platform "linux/$arch" -t "$tag" -f "$work/Containerfile" "$work" >/dev/null ;;
  esac
done
