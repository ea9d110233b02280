#!/bin/sh
# Runs a program of a matrix root inside that root's mount and network
# namespaces, in the caller's working directory (shared paths are the same
# inside), with the caller's environment except PATH. Every launcher
# (bin/<engine>/podman, docker, runc) is one line calling this.
# Usage: enter SUITE PROGRAM [ARG…]
M=$(cd "$(dirname "$0")/.." && pwd -P)
suite=$1 prog=$2
shift 2
S=$M/$suite/state R=$M/$suite/root
pid=$(cat "$S/holder.pid" 2>/dev/null) || pid=
if [ -z "$pid" ] || [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" != "$(cat "$S/holder.mntns" 2>/dev/null)" ]; then
  printf 'goapp-matrix: the %s root is not started: run %s/bin/matrix.sh start %s (or matrix.sh start <engine>)\n' "$suite" "$M" "$suite" >&2
  exit 125
fi
case "$prog" in
  podman|buildah|skopeo)
    # The root's own settings (runc, cgroupfs, rlimits, file events) win over
    # a CONTAINERS_CONF the caller points at a host file.
    set -- env CONTAINERS_CONF_OVERRIDE=/etc/containers/goapp-matrix.conf "$prog" "$@" ;;
  docker)
    set -- env "DOCKER_HOST=${DOCKER_HOST:-unix://$S/docker.sock}" "$prog" "$@" ;;
  *) set -- "$prog" "$@" ;;
esac
exec nsenter -t "$pid" -m -n -- /usr/sbin/chroot "$R" /bin/sh -c '
cd "$1" 2>/dev/null || { printf "goapp-matrix: %s is not shared into the %s root (GOAPP_MATRIX_SHARE); running in /\n" "$1" "$2" >&2; cd /; }
shift 2
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
exec "$@"' goapp-matrix "$PWD" "$suite" "$@"
