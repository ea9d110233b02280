#!/usr/bin/env bash
# The engine matrix: the container engines of Debian's newer suites, each in
# a root of its own (debootstrap), run in that root's own mount and network
# namespaces, reached the way a user with that engine reaches it — a
# `podman` or `docker` command on PATH (a launcher) — and containerd nodes
# behind the root's own sshd, as tests/support/node.rs does for the host's.
#
#   engine             root    what
#   podman-trixie      trixie  podman 5.4, buildah 1.39 inside
#   docker-trixie      trixie  docker 26 (classic overlay2 store) + buildx 0.13
#   containerd-trixie  trixie  containerd 1.7 node (ctr) + podman 5.4 node storage, OpenSSH 10.0
#   podman-sid         sid     podman 5.8
#   docker-sid         sid     docker 28 with the containerd image store + buildx 0.29
#   containerd-sid     sid     containerd 2.1 node (ctr) + podman 5.8 node storage, OpenSSH 10.6
# Engines are also named by kind and version: podman-5.8, docker-28,
# containerd-2.1 (whatever the suites carry; `matrix.sh list`).
#
# Usage:
#   matrix.sh setup [ENGINE|SUITE…]   roots, packages, config, launchers, Go builder
#                                      images, the Go tags mirror (idempotent; all by default)
#   matrix.sh start ENGINE|SUITE…     the root's namespaces; dockerd for docker-*;
#                                      for containerd-*: a node, alias ENGINE in $GOAPP_MATRIX_DIR/ssh_config
#   matrix.sh stop [SUITE…]           stops every process of the matrix (all suites by default)
#   matrix.sh env ENGINE              the environment a user or test needs (sh `export` lines)
#   matrix.sh list                    engines, versions, state
#   matrix.sh which ENGINE            "NAME KIND SUITE VERSION" of an engine
#   matrix.sh run SUITE CMD…          a command of the root, in its namespaces
#   matrix.sh node-start SUITE DIR ALIAS [SSH_CONFIG]   a node in DIR (for tests; see matrix.rs)
#   matrix.sh node-stop DIR
#   matrix.sh forward SUITE PORT      the host's 127.0.0.1:PORT reachable from the suite's
#                                      namespace at the same address (a registry)
#   matrix.sh unforward SUITE PORT
#
# Environment: GOAPP_MATRIX_DIR (default /var/lib/goapp-matrix, outside the
# repository), GOAPP_MATRIX_MIRROR (default: the mirror apt uses),
# GOAPP_MATRIX_SHARE (host paths the engines see at the same path; default
# below), GOAPP_MATRIX_GO (Go lines for builder images: "all" (default) =
# bookworm's 1.19, trixie's and sid's newest; "1.19" = that one only).
#
# Needs (root): debootstrap, util-linux (unshare, nsenter), python3 (the
# port forwarder), openssh-client; qemu-user-static registered in binfmt_misc
# for the arm64 builder images (scripts/setup.sh does that). `setup` leaves
# the roots' namespaces and dockerds running (it builds images with them);
# `stop` ends every process of the matrix; the roots stay on disk.
#
# Nothing here touches the host's engines: every engine's state is under
# $GOAPP_MATRIX_DIR/<suite>/state, every daemon and container runs in the
# suite's own network namespace (only loopback; a host port is made
# reachable inside with `forward`), and all mounts are made inside the
# suite's mount namespace (slave: nothing propagates back to the host).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
M="${GOAPP_MATRIX_DIR:-/var/lib/goapp-matrix}"
SHARES="${GOAPP_MATRIX_SHARE:-/tmp /var/tmp /work /home /root/.cache /root/.config/go /srv /opt /mnt}"
# The checkout and the caller's TMPDIR are always seen by the engines (a
# checkout elsewhere, as CI's, holds the fixtures, build contexts and the
# CONTAINERS_CONF the tests point at), unless a share above already holds them.
for p in "$repo" "${TMPDIR:-}"; do
  [ -n "$p" ] || continue
  under=no
  for s in $SHARES; do case "$p/" in "$s"/*) under=yes ;; esac; done
  [ "$under" = yes ] || SHARES="$SHARES $p"
done
GO_LINES="${GOAPP_MATRIX_GO:-all}"
SUITES=(trixie sid)
ENGINES=(podman-trixie docker-trixie containerd-trixie podman-sid docker-sid containerd-sid)
# Bumped when what a root holds changes: the next setup redoes that step.
PACKAGES_COMMON=(podman runc conmon netavark aardvark-dns nftables iptables docker.io docker-cli
  docker-buildx containerd openssh-server openssh-client zstd gzip iproute2 procps ca-certificates
  skopeo python3-minimal)
# Our own podman calls (the launchers leave the warning as users see it).
export PODMAN_IGNORE_CGROUPSV1_WARNING=1
HOST_ARCH="$(dpkg --print-architecture)"
FOREIGN_ARCH=arm64
[ "$HOST_ARCH" = arm64 ] && FOREIGN_ARCH=amd64

log() { printf 'matrix: %s\n' "$*" >&2; }
die() { printf 'matrix: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

[ "$(id -u)" = 0 ] || die "run as root (namespaces, chroot, daemons)"
mkdir -p "$M"
M="$(cd "$M" && pwd -P)"

mirror() {
  if [ -n "${GOAPP_MATRIX_MIRROR:-}" ]; then echo "$GOAPP_MATRIX_MIRROR"; return; fi
  local u
  u=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$u" ] || u=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)
  echo "${u:-http://deb.debian.org/debian}"
}

# --- names -------------------------------------------------------------------

suite_of() { echo "${1#*-}"; }
kind_of() { echo "${1%%-*}"; }

# ENGINE | SUITE | kind-X[.Y] | "kind X[.Y]" → canonical engine or suite name.
resolve() {
  local want="${1// /-}" e
  for e in "${ENGINES[@]}" "${SUITES[@]}"; do [ "$want" = "$e" ] && { echo "$e"; return; }; done
  if [ -f "$M/engines" ]; then
    local kind="${want%%-*}" ver="${want#*-}"
    e=$(awk -v k="$kind" -v v="$ver" '$2==k && (index($4, v".")==1 || $4==v) {print $1; exit}' "$M/engines")
    [ -n "$e" ] && { echo "$e"; return; }
  fi
  die "no engine '$1' in the matrix: $(tr '\n' ';' <"$M/engines" 2>/dev/null || echo "run matrix.sh setup first") (names: ${ENGINES[*]})"
}

# --- roots -------------------------------------------------------------------

# A command in the root with the host's network (package installation only),
# in a private mount namespace that goes away with it.
in_root_setup() {
  local R="$1"
  shift
  unshare --mount --propagation private -- sh -c '
    R=$1; shift
    mount --bind "$R" "$R"
    mount -t proc proc "$R/proc"
    mount --rbind /dev "$R/dev"
    mount --rbind /sys "$R/sys"
    mount -t tmpfs tmpfs "$R/run"
    exec chroot "$R" "$@"' sh "$R" "$@"
}

setup_root() {
  local suite="$1" R="$M/$1/root" S="$M/$1/state" t0
  mkdir -p "$S"
  if [ ! -f "$M/$suite/debootstrap.done" ]; then
    t0=$(now)
    log "$suite: debootstrap (minbase) from $(mirror)"
    rm -rf "$R" "$R.part"
    debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
      "$suite" "$R.part" "$(mirror)" >"$M/$suite/debootstrap.log" 2>&1 ||
      die "$suite: debootstrap failed: $(tail -n 3 "$M/$suite/debootstrap.log")"
    mv "$R.part" "$R"
    echo "$(since "$t0") s" >"$M/$suite/debootstrap.done"
    log "$suite: debootstrap done in $(since "$t0") s"
  fi
  local want="${PACKAGES_COMMON[*]}"
  if [ "$(cat "$M/$suite/packages.done" 2>/dev/null | head -n 1)" != "$want" ]; then
    t0=$(now)
    log "$suite: installing ${PACKAGES_COMMON[*]}"
    printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
    chmod +x "$R/usr/sbin/policy-rc.d"
    # The mirror may be a snapshot whose sid Release file has expired.
    echo 'Acquire::Check-Valid-Until "false";' >"$R/etc/apt/apt.conf.d/99goapp-matrix"
    cp /etc/resolv.conf "$R/etc/resolv.conf"
    in_root_setup "$R" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${PACKAGES_COMMON[*]}" \
      >"$M/$suite/packages.log" 2>&1 || die "$suite: package installation failed: $(tail -n 5 "$M/$suite/packages.log")"
    in_root_setup "$R" apt-get clean
    printf '%s\n%s s\n' "$want" "$(since "$t0")" >"$M/$suite/packages.done"
    log "$suite: packages installed in $(since "$t0") s"
  fi
  configure_root "$suite"
}

# Writes FILE from stdin only when its content differs.
put() {
  local f="$1" tmp
  tmp="$(mktemp)"
  cat >"$tmp"
  mkdir -p "$(dirname "$f")"
  if cmp -s "$tmp" "$f" 2>/dev/null; then rm -f "$tmp"; else mv "$tmp" "$f"; chmod 0644 "$f"; fi
}

configure_root() {
  local suite="$1" R="$M/$1/root" S="$M/$1/state"
  mkdir -p "$S/podman" "$S/docker" "$S/nodes" "$S/fwd"
  # podman: the store under the state directory (the same path inside and on
  # the host, so what the tool reads of it — working containers' records —
  # is where it looks); runc with cgroupfs (cgroup v1 host, no systemd); the
  # host's rlimits.
  put "$R/etc/containers/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$S/podman/storage"
runroot = "/run/containers/storage"
EOF
  put "$R/etc/containers/goapp-matrix.conf" <<'EOF'
# goapp-build engine matrix: what this root's podman needs on the CI VMs
# (loaded last through CONTAINERS_CONF_OVERRIDE by the launcher).
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  cp "$R/etc/containers/goapp-matrix.conf" "$R/etc/containers/containers.conf.tmp" &&
    mv "$R/etc/containers/containers.conf.tmp" "$R/etc/containers/containers.conf"
  local snap=false
  [ "$suite" = sid ] && snap=true
  put "$R/etc/docker/daemon.json" <<EOF
{
  "data-root": "$S/docker/data",
  "exec-root": "/run/docker",
  "pidfile": "/run/docker.pid",
  "hosts": ["unix://$S/docker.sock"],
  "iptables": false,
  "ip6tables": false,
  "features": {"containerd-snapshotter": $snap},
  "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1024, "Soft": 1024}, "nproc": {"Name": "nproc", "Hard": 1024, "Soft": 1024}}
}
EOF
  versions "$suite"
}

# Records what the root carries: $M/engines, one line per engine:
# NAME KIND SUITE VERSION.
versions() {
  local suite="$1" R="$M/$1/root" pv dv cv
  pv=$(chroot "$R" dpkg-query -W -f='${Version}' podman | sed 's/+.*//; s/-.*//')
  dv=$(chroot "$R" dpkg-query -W -f='${Version}' docker.io | sed 's/+.*//; s/-.*//')
  cv=$(chroot "$R" dpkg-query -W -f='${Version}' containerd | sed 's/[~+].*//; s/-.*//')
  {
    grep -v " $suite " "$M/engines" 2>/dev/null || true
    echo "podman-$suite podman $suite $pv"
    echo "docker-$suite docker $suite $dv"
    echo "containerd-$suite containerd $suite $cv"
  } | sort -k3,3r -k1,1 | put "$M/engines"
}

# --- launchers ---------------------------------------------------------------

setup_bin() {
  local e suite kind
  mkdir -p "$M/bin"
  for f in enter.sh holder.sh fwd.py; do
    install -m 0755 "$here/matrix/$f" "$M/bin/${f%.sh}.tmp" && mv "$M/bin/${f%.sh}.tmp" "$M/bin/${f%.sh}"
  done
  printf '#!/bin/sh\n# The goapp-build engine matrix (set up from %s).\nexec %q "$@"\n' "$repo" "$here/matrix.sh" | put "$M/bin/matrix.sh"
  chmod 0755 "$M/bin/matrix.sh"
  for e in "${ENGINES[@]}"; do
    suite=$(suite_of "$e") kind=$(kind_of "$e")
    mkdir -p "$M/bin/$e"
    case "$kind" in
      podman) progs="podman runc" ;;
      docker) progs="docker" ;;
      containerd) progs="ctr" ;;
    esac
    for p in $progs; do
      printf '#!/bin/sh\n# %s of the goapp-build engine matrix: the %s root'"'"'s %s, in its namespaces.\nexec %s %s %s "$@"\n' \
        "$e" "$suite" "$p" "$M/bin/enter" "$suite" "$p" | put "$M/bin/$e/$p"
      chmod 0755 "$M/bin/$e/$p"
    done
  done
}

# --- namespaces and daemons --------------------------------------------------

holder_pid() {
  local S="$M/$1/state" pid
  pid=$(cat "$S/holder.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$(cat "$S/holder.mntns" 2>/dev/null)" ] || return 1
  echo "$pid"
}

ns_up() {
  local suite="$1" R="$M/$1/root" S="$M/$1/state" pid shares=()
  if holder_pid "$suite" >/dev/null; then
    shares_seen "$suite" && return 0
    # Started for another checkout or TMPDIR, or one shared then made anew
    # (the root would see the old, deleted one): the root starts again,
    # sharing what it shared and what this caller needs.
    local had
    had=$(cat "$S/holder.shares" 2>/dev/null || true)
    log "$suite: restarting the root's namespaces to share: $SHARES"
    SHARES=$(printf '%s\n' $had $SHARES | awk '!seen[$0]++' | tr '\n' ' ')
    stop_suite "$suite"
  fi
  [ -d "$R" ] || die "the $suite root is not set up: run matrix.sh setup $suite"
  mkdir -p "$M/go" "$HOME/.cache"
  rm -f "$S/holder.ready" "$S/holder.pid" "$S/holder.mntns"
  read -r -a shares <<<"$SHARES"
  spawn "$S/holder.log" unshare --mount --net --propagation slave -- /bin/sh "$M/bin/holder" "$R" "$S" "$M/go" "${shares[@]}"
  pid=$!
  for _ in $(seq 1 100); do
    [ -e "$S/holder.ready" ] && break
    kill -0 "$pid" 2>/dev/null || die "$suite: the namespace holder failed: $(cat "$S/holder.log")"
    sleep 0.1
  done
  [ -e "$S/holder.ready" ] || die "$suite: the namespace holder did not get ready: $(cat "$S/holder.log")"
  readlink "/proc/$pid/ns/mnt" >"$S/holder.mntns"
  printf '%s\n' "$SHARES" >"$S/holder.shares"
  echo "$pid" >"$S/holder.pid"
}

# Whether the running root sees every share that exists here as the same
# directory (device and inode) as the host does.
shares_seen() {
  local p ex=()
  for p in $SHARES; do [ -d "$p" ] && ex+=("$p"); done
  [ "$(stat -c %d:%i "${ex[@]}")" = "$(cd / && in_ns "$1" stat -c %d:%i "${ex[@]}" 2>/dev/null)" ]
}

# Runs a program of the root in its namespaces (no launcher needed).
in_ns() { local suite="$1"; shift; "$M/bin/enter" "$suite" "$@"; }

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# Starts a daemon in a session of its own with no descriptor of ours but its
# log (the lock, pipes of a caller's command substitution): $! is its pid.
spawn() {
  local log="$1"
  shift
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
    done
    exec setsid "$@" >>"$log" 2>&1 </dev/null
  ) &
}

docker_up() {
  local suite="$1" S="$M/$1/state" pid t0
  local docker="$M/bin/docker-$suite/docker"
  pid=$(cat "$S/dockerd.pid" 2>/dev/null || true)
  if alive "$pid" && "$docker" version >/dev/null 2>&1; then return 0; fi
  alive "$pid" && { kill "$pid"; sleep 1; }
  t0=$(now)
  pid=$(holder_pid "$suite")
  spawn "$S/dockerd.log" nsenter -t "$pid" -m -n -- /usr/sbin/chroot "$M/$suite/root" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    dockerd --config-file /etc/docker/daemon.json
  echo $! >"$S/dockerd.pid"
  for _ in $(seq 1 120); do
    "$docker" version >/dev/null 2>&1 && { log "docker-$suite: dockerd up in $(since "$t0") s"; return 0; }
    alive "$(cat "$S/dockerd.pid")" || break
    sleep 0.5
  done
  die "docker-$suite: dockerd did not start: $(tail -n 5 "$S/dockerd.log")"
}

# --- nodes -------------------------------------------------------------------

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A node in DIR: the root's containerd (own root, state, socket) and podman
# storage, and the suite's dockerd (shared; when started: `start docker-SUITE`), behind the root's sshd listening on 127.0.0.1:PORT inside the
# suite's namespace, reachable from the host at 127.0.0.1:PORT through a
# forwarder. Appends Host ALIAS to SSH_CONFIG (default DIR/../ssh_config).
node_start() {
  local suite="$1" dir="$2" alias="$3" sshcfg="${4:-}" pid port ctdv
  [ -n "$sshcfg" ] || sshcfg="$(dirname "$dir")/ssh_config"
  pid=$(holder_pid "$suite")
  mkdir -p "$dir/tmp" "$dir/bin"
  dir="$(cd "$dir" && pwd -P)"
  in_ns "$suite" test -d "$dir" || die "node directory $dir is not visible in the $suite root (put it under one of: $SHARES)"
  ctdv=$(awk -v s="$suite" '$2=="containerd" && $3==s {print $4}' "$M/engines")
  if [ "${ctdv%%.*}" -ge 2 ]; then
    cat >"$dir/containerd.toml" <<EOF
version = 3
root = "$dir/ctd-root"
state = "$dir/ctd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.nri.v1.nri"]
[grpc]
  address = "$dir/containerd.sock"
EOF
  else
    cat >"$dir/containerd.toml" <<EOF
version = 2
root = "$dir/ctd-root"
state = "$dir/ctd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/containerd.sock"
EOF
  fi
  printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/podman-root"\nrunroot = "%s/podman-run"\n' "$dir" "$dir" >"$dir/storage.conf"
  for k in host_key client_key; do
    [ -f "$dir/$k" ] || ssh-keygen -q -t ed25519 -N '' -C "${k%_key}" -f "$dir/$k"
  done
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  port=$(cat "$dir/port" 2>/dev/null || free_port)
  echo "$port" >"$dir/port"
  sed "s|@DIR@|$dir|g" "$here/matrix/node-wrapper.sh" >"$dir/wrapper.sh"
  chmod 0755 "$dir/wrapper.sh"
  cat >"$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
SetEnv CONTAINERD_ADDRESS=$dir/containerd.sock CONTAINERS_STORAGE_CONF=$dir/storage.conf CONTAINERS_CONF=/etc/containers/goapp-matrix.conf DOCKER_HOST=unix://$M/$suite/state/docker.sock
ForceCommand $dir/wrapper.sh
EOF
  spawn "$dir/containerd.log" nsenter -t "$pid" -m -n -- /usr/sbin/chroot "$M/$suite/root" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    containerd --config "$dir/containerd.toml"
  echo $! >"$dir/containerd.pid"
  spawn "$dir/sshd.log" nsenter -t "$pid" -m -n -- /usr/sbin/chroot "$M/$suite/root" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    /usr/sbin/sshd -D -e -f "$dir/sshd_config"
  echo $! >"$dir/sshd.main.pid"
  fwd_start "$dir/fwd" host "/proc/$pid/ns/net" "$port"
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$dir/known_hosts"
  echo "$suite" >"$dir/suite"
  # `stop` stops the nodes it finds here (tests' nodes live in their own directories).
  grep -qxF "$dir" "$M/$suite/state/nodes.list" 2>/dev/null || echo "$dir" >>"$M/$suite/state/nodes.list"
  # One entry per alias in the ssh config.
  if [ -f "$sshcfg" ]; then
    awk -v a="$alias" '/^Host /{skip=($2==a)} !skip' "$sshcfg" >"$sshcfg.tmp" && mv "$sshcfg.tmp" "$sshcfg"
  fi
  printf 'Host %s\n  HostName 127.0.0.1\n  Port %s\n  User root\n  IdentityFile %s/client_key\n  IdentitiesOnly yes\n  UserKnownHostsFile %s/known_hosts\n  StrictHostKeyChecking yes\n' \
    "$alias" "$port" "$dir" "$dir" >>"$sshcfg"
  for _ in $(seq 1 200); do
    if [ -S "$dir/containerd.sock" ] && ssh -F "$sshcfg" -o BatchMode=yes -o ConnectTimeout=2 "$alias" true 2>/dev/null; then
      return 0
    fi
    alive "$(cat "$dir/containerd.pid")" || die "node $alias: containerd exited: $(tail -n 5 "$dir/containerd.log")"
    alive "$(cat "$dir/sshd.main.pid")" || die "node $alias: sshd exited: $(tail -n 5 "$dir/sshd.log")"
    sleep 0.1
  done
  die "node $alias did not answer over ssh: see $dir (sshd.log, containerd.log)"
}

node_stop() {
  local dir="$1" suite pid p
  [ -d "$dir" ] || return 0
  suite=$(cat "$dir/suite" 2>/dev/null || true)
  fwd_stop "$dir/fwd"
  for p in sshd.main containerd; do
    pid=$(cat "$dir/$p.pid" 2>/dev/null || true)
    alive "$pid" || continue
    # sshd's sessions, then sshd; containerd (its shims exit with their tasks).
    [ "$p" = sshd.main ] && pkill -9 -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/$p.pid"
  done
  if [ -n "$suite" ] && [ -f "$M/$suite/state/nodes.list" ]; then
    grep -vxF "$dir" "$M/$suite/state/nodes.list" >"$M/$suite/state/nodes.list.tmp" || true
    mv "$M/$suite/state/nodes.list.tmp" "$M/$suite/state/nodes.list"
  fi
  if [ -n "$suite" ] && pid=$(holder_pid "$suite"); then
    # containerd's shims (and their tasks' processes): in the root's mount
    # namespace, naming this node's socket.
    local ns q
    ns=$(cat "$M/$suite/state/holder.mntns")
    for q in /proc/[0-9]*; do
      [ "$(readlink "$q/ns/mnt" 2>/dev/null)" = "$ns" ] || continue
      tr '\0' ' ' <"$q/cmdline" 2>/dev/null | grep -qF "$dir/containerd.sock" && kill -9 "${q#/proc/}" 2>/dev/null || true
    done
    nsenter -t "$pid" -m -- sh -c "grep -o ' $M/$suite/root$dir/[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l" 2>/dev/null || true
  fi
}

# --- forwarders ----------------------------------------------------------------

fwd_start() {
  local pidf="$1" from="$2" to="$3" port="$4" ready
  alive "$(cat "$pidf.pid" 2>/dev/null || true)" && return 0
  mkdir -p "$(dirname "$pidf")"
  rm -f "$pidf.out"
  spawn "$pidf.log" sh -c 'exec /usr/bin/python3 "$1" "$2" "$3" "$4" >"$5"' fwd "$M/bin/fwd.py" "$from" "$to" "$port" "$pidf.out"
  echo $! >"$pidf.pid"
  for _ in $(seq 1 50); do
    ready=$(cat "$pidf.out" 2>/dev/null || true)
    [ "$ready" = ready ] && return 0
    alive "$(cat "$pidf.pid")" || break
    sleep 0.05
  done
  die "forwarder for port $port did not start: $(cat "$pidf.log")"
}

fwd_stop() {
  local pidf="$1" pid
  pid=$(cat "$pidf.pid" 2>/dev/null || true)
  if alive "$pid" && grep -q fwd "/proc/$pid/cmdline" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
  rm -f "$pidf.pid" "$pidf.out"
}

# --- Go builder images ---------------------------------------------------------

# apt on the host with a private state (sources, lists, cache) per
# distribution, for downloading .debs of any architecture: reads and writes
# nothing of the host's apt.
papt() {
  local dist="$1"
  shift
  local A="$M/apt/$dist"
  if [ ! -f "$A/updated" ]; then
    mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/etc"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror) $dist main" >"$A/etc/sources.list"
    : >"$A/status"
    papt_raw "$dist" update -qq >"$A/update.log" 2>&1 || die "apt update for $dist failed: $(tail -n 3 "$A/update.log")"
    : >"$A/updated"
  fi
  papt_raw "$dist" "$@"
}
papt_raw() {
  local dist="$1"
  shift
  local A="$M/apt/$dist"
  apt-get -o Dir::Etc::SourceList="$A/etc/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
    -o Dir::State::Lists="$A/lists" -o Dir::State::status="$A/status" -o Dir::Cache="$A/cache" \
    -o Dir::Etc::Preferences=/nonexistent -o Dir::Etc::PreferencesParts=/nonexistent \
    -o APT::Architecture="$HOST_ARCH" -o APT::Architectures::="$HOST_ARCH" -o APT::Architectures::="$FOREIGN_ARCH" \
    -o Acquire::Check-Valid-Until=false -o Acquire::Languages=none -o APT::Sandbox::User=root "$@"
}
papt_cache() {
  local dist="$1"
  shift
  local A="$M/apt/$dist"
  papt "$dist" --version >/dev/null
  apt-cache -o Dir::Etc::SourceList="$A/etc/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
    -o Dir::State::Lists="$A/lists" -o Dir::State::status="$A/status" -o Dir::Cache="$A/cache" \
    -o Dir::Etc::Preferences=/nonexistent -o Dir::Etc::PreferencesParts=/nonexistent \
    -o APT::Architecture="$HOST_ARCH" -o APT::Architectures::="$HOST_ARCH" -o APT::Architectures::="$FOREIGN_ARCH" "$@"
}

# The Go package of a distribution: "golang-1.NN-go VERSION" (its newest line:
# what golang-go depends on; bookworm: 1.19).
go_package() {
  local dist="$1" pkg
  pkg=$(papt_cache "$dist" show "golang-go:$HOST_ARCH" 2>/dev/null | awk -F': ' '/^Depends:/{print $2; exit}' | grep -o 'golang-1\.[0-9]*-go' | head -n 1)
  [ -n "$pkg" ] || die "no golang-go in $dist"
  echo "$pkg $(papt_cache "$dist" show "$pkg:$HOST_ARCH" | awk '/^Version:/{print $2; exit}' | sed 's/-[^-]*$//; s/.*://')"
}

# The Go versions the builder images are made for: "DIST PKG VERSION" lines.
# Kept in $M/go/builds-<lines> (delete it, or $M/apt, to look again).
go_builds() {
  local f="$M/go/builds-$GO_LINES"
  if [ ! -s "$f" ]; then
    local dists=(bookworm trixie sid) d
    [ "$GO_LINES" = all ] || dists=(bookworm)
    mkdir -p "$M/go"
    for d in "${dists[@]}"; do echo "$d $(go_package "$d")"; done | awk '!seen[$3]++' >"$f.tmp"
    mv "$f.tmp" "$f"
  fi
  cat "$f"
}

# The rootfs of a Go builder, from Debian's packages (Go, its libc, busybox),
# as scripts/make-go-builder.sh makes it: $M/go/VERSION/ARCH/rootfs.
go_rootfs() {
  local dist="$1" pkg="$2" ver="$3" arch="$4" d line
  d="$M/go/$ver/$arch"
  [ -f "$d/done" ] && return 0
  line="${pkg#golang-}"
  line="${line%-go}"
  log "Go $ver ($dist) rootfs for $arch"
  rm -rf "$d"
  mkdir -p "$d/debs" "$d/rootfs"
  (cd "$d/debs" && papt "$dist" download -qq "$pkg:$arch" "golang-$line-src" "libc6:$arch" "busybox-static:$arch" >"$d/download.log" 2>&1) ||
    die "downloading Go $ver for $arch from $dist failed: $(tail -n 3 "$d/download.log")"
  for f in "$d"/debs/*.deb; do dpkg-deb -x "$f" "$d/rootfs"; done
  rm -rf "$d/debs" "$d/rootfs/usr/share/doc" "$d/rootfs/usr/share/man"
  mkdir -p "$d/rootfs/tmp" "$d/rootfs/root" "$d/rootfs/etc" "$d/rootfs/usr/local"
  chmod 1777 "$d/rootfs/tmp"
  # Packages of merged-/usr releases (trixie on) ship /usr/bin only.
  for x in bin sbin lib lib64; do
    [ -e "$d/rootfs/$x" ] || [ ! -d "$d/rootfs/usr/$x" ] || ln -s "usr/$x" "$d/rootfs/$x"
  done
  ln -sfn "/usr/lib/go-$line" "$d/rootfs/usr/local/go"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$d/rootfs/etc/passwd"
  : >"$d/done"
}

go_containerfiles() {
  local ver="$1"
  put "$M/go/$ver/Containerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/usr/local/go/bin:/bin:/usr/bin HOME=/root GOPATH=/go
WORKDIR /go
EOF
  put "$M/go/$ver/Containerfile.multi" <<'EOF'
FROM scratch
ARG TARGETARCH
COPY ${TARGETARCH}/rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/usr/local/go/bin:/bin:/usr/bin HOME=/root GOPATH=/go
WORKDIR /go
EOF
}

# Builder images in one engine's store, named as Containerfiles ask for them:
#   docker.io/library/golang:V-bookworm        the host architecture's image
#   docker.io/library/golang:LINE-bookworm     both architectures where the store
#                                              can hold an index (podman: a manifest
#                                              list; docker-sid's containerd store: a
#                                              two-platform image); docker-trixie:
#                                              the host architecture's image
#   localhost/goapp-fixtures/golang:V-ARCH     podman: each architecture's image
setup_builders() {
  local e="$1" suite kind dist pkg ver line t0
  suite=$(suite_of "$e") kind=$(kind_of "$e")
  local bin="$M/bin/$e/$kind" have
  # Every name the store holds, in one call (manifest lists included).
  have=$(PODMAN_IGNORE_CGROUPSV1_WARNING=1 "$bin" images --format '{{.Repository}}:{{.Tag}}' 2>"$M/$suite/state/images.err") ||
    die "$e: listing its images failed: $(tail -n 3 "$M/$suite/state/images.err")"
  have=$(sed 's|^golang:|docker.io/library/golang:|' <<<"$have")
  while read -r dist pkg ver; do
    line="${ver%.*}"
    local tv="docker.io/library/golang:$ver-bookworm" tl="docker.io/library/golang:$line-bookworm"
    local tf="localhost/goapp-fixtures/golang:$ver-$FOREIGN_ARCH"
    case "$kind" in
      podman) if grep -qxF "$tv" <<<"$have" && grep -qxF "$tl" <<<"$have" && grep -qxF "$tf" <<<"$have"; then continue; fi ;;
      docker) if grep -qxF "$tv" <<<"$have" && grep -qxF "$tl" <<<"$have"; then continue; fi ;;
    esac
    t0=$(now)
    go_rootfs "$dist" "$pkg" "$ver" "$HOST_ARCH"
    go_rootfs "$dist" "$pkg" "$ver" "$FOREIGN_ARCH"
    go_containerfiles "$ver"
    log "$e: Go $ver builder images"
    local G="$M/go/$ver"
    case "$e" in
      podman-*)
        "$bin" build -q --platform "linux/$HOST_ARCH" -t "$tv" -f "$G/Containerfile" "$G/$HOST_ARCH" >/dev/null
        "$bin" build -q --platform "linux/$FOREIGN_ARCH" -t "$tf" -f "$G/Containerfile" "$G/$FOREIGN_ARCH" >/dev/null
        "$bin" manifest rm "$tl" >/dev/null 2>&1 || true
        "$bin" manifest create "$tl" >/dev/null
        "$bin" manifest add "$tl" "containers-storage:$tv" >/dev/null
        "$bin" manifest add "$tl" "containers-storage:$tf" >/dev/null
        ;;
      docker-trixie)
        DOCKER_BUILDKIT=0 "$bin" build -q --platform "linux/$HOST_ARCH" -t "$tv" -f "$G/Containerfile" "$G/$HOST_ARCH" >/dev/null 2>"$M/$suite/state/builder.log" ||
          die "$e: building the Go $ver builder failed: $(tail -n 5 "$M/$suite/state/builder.log")"
        "$bin" tag "$tv" "$tl"
        ;;
      docker-sid)
        "$bin" buildx build -q --provenance=false --sbom=false --platform "linux/$HOST_ARCH,linux/$FOREIGN_ARCH" \
          -t "$tv" -t "$tl" -f "$G/Containerfile.multi" --load "$G" >/dev/null 2>"$M/$suite/state/builder.log" ||
          die "$e: building the Go $ver builder failed: $(tail -n 5 "$M/$suite/state/builder.log")"
        ;;
    esac
    log "$e: Go $ver builder images in $(since "$t0") s"
  done < <(go_builds)
}

# The Go tags mirror for GOAPP_GO_REPO: scripts/make-go-tags-repo.sh's tags
# plus every patch release of each builder's line up to the builder's
# version (so `go 1.24` in go.mod resolves to the image that exists).
setup_go_tags() {
  local extra=() dist pkg ver line p
  while read -r dist pkg ver; do
    line="${ver%.*}"
    case "$line" in 1.19 | 1.20 | 1.21) continue ;; esac # already in the mirror
    p="${ver##*.}"
    for i in $(seq 0 "$p"); do extra+=("go$line.$i"); done
    extra+=("go${line}rc1")
  done < <(go_builds)
  local want="${extra[*]}"
  if [ "$(cat "$M/go-tags.done" 2>/dev/null)" != "$want" ] || [ ! -d "$M/go-tags.git" ]; then
    rm -rf "$M/go-tags.git"
    "$here/make-go-tags-repo.sh" "$M/go-tags.git" "${extra[@]}" >/dev/null
    echo "$want" >"$M/go-tags.done"
    log "Go tags mirror $M/go-tags.git (extra tags: $want)"
  fi
}

# --- commands ----------------------------------------------------------------

lock() {
  exec 9>"$M/.lock"
  flock 9
}

# The suite of an ENGINE|SUITE argument.
suite_arg() {
  local r
  r=$(resolve "$1")
  case "$r" in trixie | sid) echo "$r" ;; *) suite_of "$r" ;; esac
}

# What ENGINE|SUITE arguments mean: the engines (all by default).
engines_of() {
  local a r e
  if [ $# = 0 ]; then printf '%s\n' "${ENGINES[@]}"; return; fi
  for a in "$@"; do
    r=$(resolve "$a")
    case "$r" in
      trixie | sid) for e in "${ENGINES[@]}"; do [ "$(suite_of "$e")" = "$r" ] && echo "$e"; done ;;
      *) echo "$r" ;;
    esac
  done
}

cmd_setup() {
  command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || log "warning: qemu-aarch64 is not registered: arm64 builder images need it (scripts/setup.sh)"
  lock
  local engines suites e s t0
  setup_bin
  # Names resolve by version (podman-5.8) once the roots say what they carry.
  if [ ! -f "$M/engines" ] && [ $# -gt 0 ] && ! (engines_of "$@" >/dev/null 2>&1); then
    for s in "${SUITES[@]}"; do setup_root "$s"; done
  fi
  mapfile -t engines < <(engines_of "$@")
  [ ${#engines[@]} -gt 0 ] || exit 1
  mapfile -t suites < <(for e in "${engines[@]}"; do suite_of "$e"; done | awk '!seen[$0]++')
  setup_bin
  for s in "${suites[@]}"; do setup_root "$s"; done
  setup_bin
  for e in "${engines[@]}"; do
    s=$(suite_of "$e")
    ns_up "$s"
    case "$e" in
      docker-*) docker_up "$s"; setup_builders "$e" ;;
      podman-*) setup_builders "$e" ;;
    esac
  done
  setup_go_tags
  log "ready: $(for e in "${engines[@]}"; do awk -v e="$e" '$1==e {printf "%s (%s %s) ", $1, $2, $4}' "$M/engines"; done)"
}

cmd_start() {
  lock
  local e s
  [ $# -gt 0 ] || set -- "${SUITES[@]}"
  for e in $(engines_of "$@"); do
    s=$(suite_of "$e")
    [ -f "$M/$s/packages.done" ] || die "the $s root is not set up: run matrix.sh setup $e"
    ns_up "$s"
    case "$e" in
      docker-*) docker_up "$s" ;;
      containerd-*)
        local dir="$M/$s/state/nodes/$e"
        if ! { alive "$(cat "$dir/sshd.main.pid" 2>/dev/null || true)" && alive "$(cat "$dir/containerd.pid" 2>/dev/null || true)" &&
          alive "$(cat "$dir/fwd.pid" 2>/dev/null || true)" && grep -qx "Host $e" "$M/ssh_config" 2>/dev/null; }; then
          node_stop "$dir"
          node_start "$s" "$dir" "$e" "$M/ssh_config"
        fi
        ;;
    esac
  done
}

cmd_stop() {
  lock
  local s
  [ $# -gt 0 ] || set -- "${SUITES[@]}"
  for s in "$@"; do stop_suite "$(suite_arg "$s")"; done
}

# Every process of one suite's root (the caller holds the lock).
stop_suite() {
  local s="$1" pid S d p n
  S="$M/$s/state"
  [ -d "$S" ] || return 0
  {
    for f in "$S"/fwd/*.pid; do [ -e "$f" ] && fwd_stop "${f%.pid}"; done
    for d in "$S"/nodes/*/ $(cat "$S/nodes.list" 2>/dev/null); do [ -d "$d" ] && node_stop "${d%/}"; done
    pid=$(cat "$S/dockerd.pid" 2>/dev/null || true)
    if alive "$pid"; then
      kill "$pid"
      for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
      alive "$pid" && kill -9 "$pid"
    fi
    rm -f "$S/dockerd.pid"
    if pid=$(holder_pid "$s"); then
      # Whatever else still runs in the root's mount namespace (nodes of
      # tests that did not stop them, shims, containers): by namespace.
      local ns n=0
      ns=$(cat "$S/holder.mntns")
      for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = "$pid" ] && continue
        [ "$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" = "$ns" ] && { kill -9 "$p" 2>/dev/null && n=$((n + 1)) || true; }
      done
      # Forwarders into this namespace whose node or registry was not stopped.
      for p in /proc/[0-9]*; do
        tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$M/bin/fwd.py" || continue
        tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "/proc/$pid/ns/net" && { kill "${p#/proc/}" 2>/dev/null && n=$((n + 1)) || true; }
      done
      [ "$n" = 0 ] || log "$s: stopped $n more process(es) in the root's namespaces"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
    fi
    rm -f "$S/holder.pid" "$S/holder.mntns" "$S/holder.ready" "$S/holder.shares"
  }
}

cmd_env() {
  [ $# = 1 ] || die "usage: matrix.sh env ENGINE"
  local e s k
  e=$(resolve "$1")
  s=$(suite_of "$e") k=$(kind_of "$e")
  echo "# $(awk -v e="$e" '$1==e {print $2, $4, "from Debian", $3}' "$M/engines" 2>/dev/null)"
  case "$k" in
    podman)
      echo "export PATH=$M/bin/$e:\$PATH"
      echo "export GOAPP_ENGINE=podman"
      ;;
    docker)
      echo "export PATH=$M/bin/$e:\$PATH"
      echo "export GOAPP_ENGINE=docker"
      echo "export DOCKER_HOST=unix://$M/$s/state/docker.sock"
      ;;
    containerd)
      echo "# a node: matrix.sh start $e, then ssh -F $M/ssh_config $e"
      echo "export GOAPP_MATRIX_SSH_CONFIG=$M/ssh_config"
      echo "export PATH=$M/bin/$e:\$PATH  # ctr, with CONTAINERD_ADDRESS:"
      echo "export CONTAINERD_ADDRESS=$M/$s/state/nodes/$e/containerd.sock"
      ;;
  esac
  echo "export GOAPP_GO_REPO=$M/go-tags.git"
}

cmd_list() {
  local e k s v state
  [ -f "$M/engines" ] || die "nothing set up: run matrix.sh setup"
  while read -r e k s v; do
    state="stopped"
    if holder_pid "$s" >/dev/null; then
      state="namespaces up"
      case "$k" in
        docker) alive "$(cat "$M/$s/state/dockerd.pid" 2>/dev/null || true)" && state="running" || state="namespaces up, dockerd stopped" ;;
        containerd) alive "$(cat "$M/$s/state/nodes/$e/sshd.main.pid" 2>/dev/null || true)" && state="node running (ssh -F $M/ssh_config $e)" ;;
        podman) state="ready" ;;
      esac
    fi
    printf '%-18s %-10s %-8s %-8s %s\n' "$e" "$k" "$v" "$s" "$state"
  done <"$M/engines"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) cmd_setup "$@" ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  env) cmd_env "$@" ;;
  list) cmd_list ;;
  which)
    # NAME KIND SUITE VERSION of an engine (for tests/support/matrix.rs).
    [ $# = 1 ] || die "usage: matrix.sh which ENGINE"
    e=$(resolve "$1")
    grep "^$e " "$M/engines" || die "no engine $e set up: run matrix.sh setup $e"
    ;;
  run)
    [ $# -ge 2 ] || die "usage: matrix.sh run SUITE CMD…"
    s=$(suite_arg "$1")
    shift
    (lock; ns_up "$s")
    exec "$M/bin/enter" "$s" "$@"
    ;;
  node-start)
    [ $# -ge 3 ] || die "usage: matrix.sh node-start SUITE DIR ALIAS [SSH_CONFIG]"
    s=$(suite_arg "$1")
    (lock; ns_up "$s")
    node_start "$s" "$2" "$3" "${4:-}"
    ;;
  node-stop)
    [ $# = 1 ] || die "usage: matrix.sh node-stop DIR"
    node_stop "$1"
    ;;
  forward | unforward)
    [ $# = 2 ] || die "usage: matrix.sh $cmd SUITE PORT"
    s=$(suite_arg "$1")
    if [ "$cmd" = forward ]; then
      (lock; ns_up "$s")
      fwd_start "$M/$s/state/fwd/in-$2" "/proc/$(holder_pid "$s")/ns/net" host "$2"
    else
      fwd_stop "$M/$s/state/fwd/in-$2"
    fi
    ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
