#!/usr/bin/env bash
# Makes local stand-ins for the base images that tests/fixtures/corpus/ uses,
# since no registry is reachable here. Each is built FROM scratch out of
# Debian packages (`apt-get download`, extracted on the host: no RUN, so the
# arm64 ones need no emulation), under the upstream name:
#   podman: a manifest list of an amd64 and an arm64 image (as setup.sh does
#           for golang:1.19-bookworm), so `FROM` resolves per --platform;
#   docker: the amd64 image (docker 20.10 has no local manifest lists).
#
#   docker.io/library/alpine:3.19           busybox-static applets, passwd, CA bundle
#   gcr.io/distroless/static-debian12       CA bundle, tzdata, passwd (nonroot 65532), no shell
#   gcr.io/distroless/static-debian12:nonroot   the same, USER 65532
#   gcr.io/distroless/base-debian12         static + glibc
#   docker.io/library/debian:bookworm-slim  glibc + busybox as /bin/sh and applets
#   localhost/goapp-corpus/golang-full:1.19 setup.sh's Go builder + gcc, libc6-dev,
#                                           binutils, make, dpkg, dash as /bin/sh,
#                                           CA bundle, tzdata
#                                           (what upstream golang:<ver>-bookworm has
#                                           beyond our builder; a separate name so the
#                                           existing builder images stay as they are)
#
# Run as root on Debian 12 after scripts/setup.sh (it needs the Go builder
# images). Idempotent: an image is remade only when this script or its base
# changed (label goapp.corpus.recipe); a second run only checks (3-7 s). Cold
# (no .deb cache, nothing built): about 1.5-2.5 min here, ~95 MB of packages.
# Usage: scripts/make-standins.sh [--force]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
fixtures="${GOAPP_FIXTURES:-$root/target/goapp-fixtures}"
debcache="$fixtures/standin-debs"
export CONTAINERS_CONF="$root/scripts/containers.conf"
DOCKER=/usr/bin/docker
force="${1:-}"
log() { printf 'make-standins: %s\n' "$*" >&2; }

host="$(dpkg --print-architecture)"
[ "$host" = amd64 ] || { log "this script expects an amd64 host (it is $host)"; exit 1; }
[ -f "$fixtures/go-version" ] || { log "run scripts/setup.sh first (no $fixtures/go-version)"; exit 1; }
gover="$(cat "$fixtures/go-version")"
go_amd64="docker.io/library/golang:$gover-bookworm"
go_arm64="localhost/goapp-fixtures/golang:$gover-arm64"
script_sum="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"
made=()

# --- packages -----------------------------------------------------------------

have_foreign() {
  dpkg --print-foreign-architectures | grep -qx arm64 && return
  dpkg --add-architecture arm64
  apt-get update -qq
}

# Downloads the named packages for an architecture into the cache (once) and
# extracts them into a root file system. Names may carry :all for arch-all.
extract() { # ARCH ROOTFS PKG...
  local arch="$1" rootfs="$2"; shift 2
  local dir="$debcache/$arch" p name want=()
  mkdir -p "$dir" "$rootfs"; chmod 777 "$dir"
  for p in "$@"; do
    name="${p%%:*}"
    compgen -G "$dir/${name}_*.deb" >/dev/null || want+=("$p")
  done
  if ((${#want[@]})); then
    have_foreign
    local args=()
    for p in "${want[@]}"; do
      case "$p" in *:all) args+=("${p%:all}") ;; *) args+=("$p:$arch") ;; esac
    done
    (cd "$dir" && apt-get download -qq "${args[@]}" >/dev/null 2>&1) || {
      (cd "$dir" && apt-get update -qq && apt-get download -qq "${args[@]}" >/dev/null)
    }
  fi
  for p in "$@"; do
    name="${p%%:*}"
    for d in "$dir/${name}"_*.deb; do dpkg-deb -x "$d" "$rootfs"; done
  done
  rm -rf "$rootfs/usr/share/doc" "$rootfs/usr/share/man" "$rootfs/usr/share/info" \
    "$rootfs/usr/share/locale" "$rootfs/usr/share/lintian" "$rootfs/usr/share/bug"
}

# gcc, make, libc6-dev, dpkg and what they need, minus what a cgo build never
# uses (sanitizer and OpenMP runtimes) and what busybox already gives (tar).
toolchain_packages() { # ARCH
  local arch="$1" line
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances "gcc:$arch" "make:$arch" "libc6-dev:$arch" "dpkg:$arch" 2>/dev/null |
    grep -v '^[ <]' | sort -u >"$work/closure-$arch"
  while read -r line; do
    case "$line" in
      *:arm64) [ "$arch" = arm64 ] && echo "${line%:arm64}" ;;
      *:*) ;;
      *) if [ "$arch" = amd64 ]; then echo "$line"
         elif ! grep -qx "$line:arm64" "$work/closure-$arch"; then echo "$line:all"; fi ;;
    esac
  done <"$work/closure-$arch" |
    grep -Evx 'lib(asan8|tsan2|lsan0|ubsan1|hwasan0|gomp1|itm1|quadmath0)|tar|lib(ssl3|krb5-3|k5crypto3|krb5support0|gssapi-krb5-2|keyutils1|com-err2)'
}

# --- file-system pieces ---------------------------------------------------------

ca_bundle() { # ROOTFS: /etc/ssl/certs/ca-certificates.crt as update-ca-certificates makes it
  local rootfs="$1" tmp="$work/ca"
  [ -d "$tmp" ] || extract amd64 "$tmp" ca-certificates:all
  mkdir -p "$rootfs/etc/ssl/certs"
  cat "$tmp"/usr/share/ca-certificates/mozilla/*.crt >"$rootfs/etc/ssl/certs/ca-certificates.crt"
}

zoneinfo() { # ROOTFS
  local rootfs="$1" tmp="$work/tz"
  [ -d "$tmp" ] || extract amd64 "$tmp" tzdata:all
  mkdir -p "$rootfs/usr/share"
  cp -a "$tmp/usr/share/zoneinfo" "$rootfs/usr/share/"
}

users() { # ROOTFS STYLE (alpine|debian|distroless)
  local rootfs="$1" style="$2"
  mkdir -p "$rootfs/etc" "$rootfs/tmp" "$rootfs/root"
  chmod 1777 "$rootfs/tmp"; chmod 700 "$rootfs/root"
  case "$style" in
    distroless)
      printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
        'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$rootfs/etc/passwd"
      printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'tty:x:5:' 'staff:x:50:' 'nonroot:x:65532:' >"$rootfs/etc/group"
      printf 'PRETTY_NAME="Distroless (goapp-build stand-in)"\nID=debian\nVERSION_ID="12"\n' >"$rootfs/etc/os-release" ;;
    *)
      mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/sbin" "$rootfs/home" "$rootfs/var/tmp"
      printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'daemon:x:1:1:daemon:/usr/sbin:/sbin/nologin' \
        'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' >"$rootfs/etc/passwd"
      printf '%s\n' 'root:x:0:' 'daemon:x:1:' 'nogroup:x:65534:' >"$rootfs/etc/group"
      if [ "$style" = alpine ]; then
        printf 'NAME="Alpine Linux (goapp-build stand-in: busybox-static)"\nID=alpine\nVERSION_ID=3.19.0\n' >"$rootfs/etc/os-release"
      else
        printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm) (goapp-build stand-in: glibc + busybox)"\nID=debian\nVERSION_ID="12"\n' >"$rootfs/etc/os-release"
      fi ;;
  esac
}

busybox_applets() { # ARCH ROOTFS: busybox-static and a symlink per applet, made on the host
  local arch="$1" rootfs="$2" list="$work/bb-list"
  extract "$arch" "$rootfs" busybox-static
  if [ ! -f "$list" ]; then
    extract amd64 "$work/bb-host" busybox-static
    "$work/bb-host/bin/busybox" --list-full >"$list"
  fi
  local a
  while read -r a; do
    [ -e "$rootfs/$a" ] || [ -L "$rootfs/$a" ] && continue
    mkdir -p "$rootfs/$(dirname "$a")"
    ln -s /bin/busybox "$rootfs/$a"
  done <"$list"
}

# --- recipes: each fills $ctx/rootfs and writes $ctx/Containerfile ---------------

recipe_alpine() { # ARCH CTX
  local arch="$1" ctx="$2"
  busybox_applets "$arch" "$ctx/rootfs"
  users "$ctx/rootfs" alpine
  ca_bundle "$ctx/rootfs"
  printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nCMD ["/bin/sh"]\n' >"$ctx/Containerfile"
}

recipe_static() { # ARCH CTX
  local ctx="$2"
  users "$ctx/rootfs" distroless
  ca_bundle "$ctx/rootfs"
  zoneinfo "$ctx/rootfs"
  mkdir -p "$ctx/home/nonroot"
  cat >"$ctx/Containerfile" <<'CF'
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 home/ /home/
ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
CF
}

recipe_static_nonroot() { # ARCH CTX: the static image as user 65532
  local arch="$1" ctx="$2"
  printf 'FROM %s\nUSER 65532\nWORKDIR /home/nonroot\n' "$(perarch static "$arch")" >"$ctx/Containerfile"
}

recipe_base() { # ARCH CTX
  local arch="$1" ctx="$2"
  recipe_static "$arch" "$ctx"
  extract "$arch" "$ctx/rootfs" libc6 libgcc-s1 gcc-12-base
}

recipe_slim() { # ARCH CTX
  local arch="$1" ctx="$2"
  extract "$arch" "$ctx/rootfs" libc6 libgcc-s1 gcc-12-base
  busybox_applets "$arch" "$ctx/rootfs"
  users "$ctx/rootfs" debian
  printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nCMD ["sh"]\n' >"$ctx/Containerfile"
}

recipe_gofull() { # ARCH CTX: the existing Go builder + a C toolchain, make, dpkg
  local arch="$1" ctx="$2" base
  base="$([ "$arch" = amd64 ] && echo "$go_amd64" || echo "$go_arm64")"
  # shellcheck disable=SC2046
  extract "$arch" "$ctx/rootfs" $(toolchain_packages "$arch") dash
  # /bin/sh is dash, as upstream: busybox's shell runs its own applets before
  # PATH, so `dpkg --print-architecture` would reach busybox's dpkg
  ln -sfn dash "$ctx/rootfs/bin/sh"
  # link-time optimisation is never used by cgo builds: 60 MB less
  rm -f "$ctx"/rootfs/usr/lib/gcc/*/12/lto1 "$ctx"/rootfs/usr/bin/*lto-dump*
  ca_bundle "$ctx/rootfs"
  zoneinfo "$ctx/rootfs"
  # what the packages' maintainer scripts would have made
  local triplet; triplet="$([ "$arch" = amd64 ] && echo x86_64-linux-gnu || echo aarch64-linux-gnu)"
  ln -sfn gcc "$ctx/rootfs/usr/bin/cc"
  ln -sfn "$triplet-gcc" "$ctx/rootfs/usr/bin/$triplet-cc" 2>/dev/null || true
  mkdir -p "$ctx/rootfs/var/lib/dpkg/info" "$ctx/rootfs/var/lib/dpkg/updates"
  : >"$ctx/rootfs/var/lib/dpkg/status"
  # upstream's PATH: /usr/bin (gcc, make, dpkg) before the builder's busybox applets in /bin
  printf 'FROM %s\nCOPY rootfs/ /\nENV PATH=/usr/local/go/bin:/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' "$base" >"$ctx/Containerfile"
}

# --- building -------------------------------------------------------------------

# name  upstream-name                               recipe
images=(
  "alpine|docker.io/library/alpine:3.19|recipe_alpine"
  "static|gcr.io/distroless/static-debian12:latest|recipe_static"
  "static-nonroot|gcr.io/distroless/static-debian12:nonroot|recipe_static_nonroot"
  "base|gcr.io/distroless/base-debian12:latest|recipe_base"
  "slim|docker.io/library/debian:bookworm-slim|recipe_slim"
  "golang-full|localhost/goapp-corpus/golang-full:1.19|recipe_gofull"
)

perarch() { echo "localhost/goapp-corpus/standin-$1:$2"; } # NAME ARCH

label_of() { # ENGINE IMAGE
  "$1" image inspect --format '{{index .Config.Labels "goapp.corpus.recipe"}}' "$2" 2>/dev/null || true
}

recipe_key() { # NAME ARCH: what the image is made from
  local name="$1" arch="$2" extra=""
  case "$name" in
    golang-full) extra="$(podman image inspect --format '{{.Id}}' "$([ "$arch" = amd64 ] && echo "$go_amd64" || echo "$go_arm64")")" ;;
    static-nonroot) extra="$(label_of podman "$(perarch static "$arch")")" ;;
  esac
  printf '%s-%s' "$script_sum" "$(printf '%s' "$extra" | sha256sum | cut -c1-8)"
}

build_one() { # NAME RECIPE ARCH ENGINE TAG KEY
  local name="$1" recipe="$2" arch="$3" engine="$4" tag="$5" key="$6"
  local ctx="$work/ctx-$name-$arch"
  if [ ! -f "$ctx/Containerfile" ]; then
    rm -rf "$ctx"; mkdir -p "$ctx/rootfs"
    "$recipe" "$arch" "$ctx"
  fi
  local cf="$ctx/Containerfile.${engine##*/}"
  cp "$ctx/Containerfile" "$cf"
  # docker has the stand-ins under their upstream names only
  [ "$engine" = podman ] || sed -i "s|^FROM $(perarch static amd64)\$|FROM gcr.io/distroless/static-debian12:latest|" "$cf"
  printf 'LABEL goapp.corpus.recipe="%s"\n' "$key" >>"$cf"
  local before; before="$("$engine" image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
  # --no-cache: an image with no binaries is the same for both architectures,
  # and podman's cache would hand the amd64 one back for arm64
  case "$engine" in
    podman) podman build -q --no-cache --platform "linux/$arch" -t "$tag" -f "$cf" "$ctx" >/dev/null ;;
    *) DOCKER_BUILDKIT=0 "$engine" build -q --no-cache -t "$tag" -f "$cf" "$ctx" >/dev/null ;;
  esac
  # the image this one replaced, if nothing else names it
  if [ -n "$before" ] && [ "$("$engine" image inspect --format '{{len .RepoTags}}' "$before" 2>/dev/null)" = 0 ]; then
    "$engine" rmi "$before" >/dev/null 2>&1 || true
  fi
}

manifest_list() { # UPSTREAM AMD64-IMAGE ARM64-IMAGE
  local list="$1" want have
  want="$(podman image inspect --format '{{.Digest}}' "$2" "$3" | sort | tr '\n' ' ')"
  have="$( { podman manifest inspect "$list" 2>/dev/null || true; } | sed -n 's/.*"digest": "\(sha256:[0-9a-f]*\)".*/\1/p' | sort | tr '\n' ' ')"
  [ "$want" = "$have" ] && return 1
  # a plain image under the name (not a list) would shadow it
  podman manifest rm "$list" >/dev/null 2>&1 || podman rmi "$list" >/dev/null 2>&1 || true
  podman manifest create "$list" >/dev/null
  podman manifest add "$list" "containers-storage:$2" >/dev/null
  podman manifest add "$list" "containers-storage:$3" >/dev/null
}

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
start=$SECONDS
for entry in "${images[@]}"; do
  IFS='|' read -r name upstream recipe <<<"$entry"
  for arch in amd64 arm64; do
    tag="$(perarch "$name" "$arch")"
    key="$(recipe_key "$name" "$arch")"
    if [ "$force" = --force ] || [ "$(label_of podman "$tag")" != "$key" ]; then
      log "making $tag"
      build_one "$name" "$recipe" "$arch" podman "$tag" "$key"
      made+=("podman $tag")
    fi
  done
  if manifest_list "$upstream" "$(perarch "$name" amd64)" "$(perarch "$name" arm64)"; then
    made+=("podman $upstream (manifest list: amd64, arm64)")
  fi
  key="$(recipe_key "$name" amd64)"
  if [ "$force" = --force ] || [ "$(label_of "$DOCKER" "$upstream")" != "$key" ]; then
    log "making $upstream for docker (amd64)"
    build_one "$name" "$recipe" amd64 "$DOCKER" "$upstream" "$key"
    made+=("docker $upstream (amd64)")
  fi
done

if ((${#made[@]})); then
  log "made, in $((SECONDS - start)) s:"
  printf '  %s\n' "${made[@]}" >&2
else
  log "all stand-ins present (checked in $((SECONDS - start)) s)"
fi
for entry in "${images[@]}"; do
  IFS='|' read -r name upstream recipe <<<"$entry"
  printf '%-45s podman %-7s %-7s docker %s\n' "$upstream" \
    "$(podman image inspect --format '{{.Size}}' "$(perarch "$name" amd64)" | numfmt --to=iec)" \
    "$(podman image inspect --format '{{.Size}}' "$(perarch "$name" arm64)" | numfmt --to=iec)" \
    "$("$DOCKER" image inspect --format '{{.Size}}' "$upstream" | numfmt --to=iec)"
done
