#!/bin/sh
# The namespace holder of one matrix root (started by matrix.sh under
# `unshare --mount --net --propagation slave`, so nothing mounted here is seen
# by the host, and the host's later mounts under the shared paths are seen
# here). It makes the root a mount point, gives it /proc, /sys, /dev, a /run
# of its own, the shared host paths at the same paths, and its state
# directory at the same path as on the host, then sleeps: its namespaces are
# what the launchers and daemons enter (nsenter -t PID -m -n).
# Usage: holder.sh ROOT STATE GODIR SHARE…
set -eu
R=$1 S=$2 G=$3
shift 3
ip link set lo up
mount --bind "$R" "$R"
for d in proc sys dev; do
  mount --rbind "/$d" "$R/$d"
  mount --make-rslave "$R/$d"
done
mount -t tmpfs -o mode=0755,size=1g goapp-matrix-run "$R/run"
mkdir -p "$R/run/lock" "$R/run/sshd"
for p in "$@"; do
  [ -e "$p" ] || continue
  if [ -d "$p" ]; then
    mkdir -p "$R$p"
  else
    mkdir -p "$(dirname "$R$p")"
    [ -e "$R$p" ] || : >"$R$p"
  fi
  mount --rbind "$p" "$R$p"
  mount --make-rslave "$R$p"
done
mkdir -p "$R$S" "$R$G"
mount --bind "$S" "$R$S"
mount --bind -o ro "$G" "$R$G" 2>/dev/null || { mount --bind "$G" "$R$G" && mount -o remount,bind,ro "$R$G"; }
: >"$S/holder.ready"
exec sleep infinity
