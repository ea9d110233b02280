#!/usr/bin/env python3
"""Fan-out: one image to 1, 3 and 6 nodes behind one 100 Mbit/s uplink,
direct ssh from the developer's machine (`ship`) against push once to a
site registry then pull on every node (`ship` with `pull_from:`), same
image, same run; and what re-shipping an unchanged image costs on every
import kind. Called by scripts/bench.sh; writes its section of
docs/BENCHMARKS.md. A benchmark, not a test: nothing fails because a
machine is slow.

The network, all on this machine:

    sender (this netns) --gfup/gfupp, tc tbf 100 Mbit/s--> site netns: bridge br0
        br0: the registry (10.234.0.2:5000, Debian's docker-registry)
        br0 --gfn<i>/gfp<i>, tc tbf 1 Gbit/s--> node netns gfn<i> (10.234.0.1<i>):
              sshd + containerd (+ podman with its own storage)

Bytes are counted on the uplink (everything the sender sends: ssh, pushes).
"""
import datetime
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 3
WORK = os.path.join(ROOT, "target", "bench-fanout")
XTASK = os.path.join(ROOT, "target", "debug", "xtask")
NODES = 6
SIZES = (1, 3, 6)
ASSET_MIB = 12
REPO = f"goapp-bench/fanout-{os.getpid()}"
REGISTRY = "10.234.0.2:5000"
ENV = dict(os.environ)
ENV.update({
    "CONTAINERS_CONF": os.path.join(ROOT, "scripts/containers.conf"),
    "GOAPP_GO_REPO": os.path.join(ROOT, "target/goapp-fixtures/go-tags.git"),
    "GOAPP_CACHE_DIR": os.path.join(WORK, "cache"),
})
for k in ("SSH_AUTH_SOCK", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "TARGET_ARCH", "GOAPP_CONFIG"):
    ENV.pop(k, None)
PROCS = []
LOAD = [0.0, 0.0]


def sh(cmd, check=True, cwd=None):
    r = subprocess.run(cmd, shell=True, cwd=cwd or WORK, env=ENV,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"bench: `{cmd}` failed ({r.returncode}):\n{r.stdout[-3000:]}")
    return r.stdout


def spawn(args, log):
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=ENV)
    PROCS.append(p)
    return p


def in_ns(ns, cmd):
    return sh(f"ip netns exec {ns} {cmd}")


# ---------------------------------------------------------------- the app
def make_app():
    """The example app plus an asset layer that does not compress."""
    app = os.path.join(WORK, "app")
    shutil.rmtree(app, ignore_errors=True)
    os.makedirs(app)
    ex = os.path.join(ROOT, "example/joke")
    for f in ("go.mod", "main.go", ".containerignore", ".dockerignore"):
        shutil.copy(os.path.join(ex, f), app)
    rnd = random.Random(11)
    with open(os.path.join(app, "asset.bin"), "wb") as f:
        f.write(rnd.randbytes(ASSET_MIB << 20))
    cf = open(os.path.join(ex, "Containerfile")).read()
    open(os.path.join(app, "Containerfile"), "w").write(cf.replace("FROM scratch\n", "FROM scratch\nCOPY asset.bin /asset.bin\n"))
    return app


# ---------------------------------------------------------------- the network
WRAPPER = """#!/bin/sh
PATH="{d}/bin:/usr/bin:/bin:/usr/sbin:/sbin"; export PATH
eval "$SSH_ORIGINAL_COMMAND"
"""

FAKE_K3S = """#!/bin/sh
# k3s cannot be installed here: `k3s ctr` is containerd's own ctr.
[ "$1" = ctr ] || exit 2
shift
exec ctr "$@"
"""

# A stand-in for k3s's agent-images watcher (k3s imports and pins what is
# renamed into the directory).
WATCHER = """#!/bin/sh
d="$1"
while sleep 0.2; do
  for f in "$d"/*.tar; do
    [ -f "$f" ] && [ ! -e "$f.done" ] || continue
    ctr -n k8s.io images import --platform linux/arm64 "$f" | sed -n 's/^unpacking \\([^ ]*\\) .*/\\1/p' |
      while read -r i; do ctr -n k8s.io images label "$i" io.cri-containerd.pinned=pinned io.cattle.k3s.pinned=pinned >/dev/null; done
    touch "$f.done"
  done
done
"""


def net_down():
    for p in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()
    PROCS.clear()
    for i in range(1, NODES + 1):
        sh(f"ip netns del gfn{i}", check=False)
    sh("ip netns del gfsite", check=False)
    sh("ip link del gfup", check=False)
    sh(f"mount | awk '{{print $3}}' | grep '^{WORK}/' | sort -r | xargs -r umount -l", check=False)


def net_up():
    net_down()
    for c in ("ip netns add gfsite", "ip netns exec gfsite ip link set lo up",
              "ip netns exec gfsite ip link add br0 type bridge", "ip netns exec gfsite ip link set br0 up",
              "ip netns exec gfsite ip addr add 10.234.0.2/24 dev br0",
              "ip link add gfup type veth peer name gfupp", "ip link set gfupp netns gfsite",
              "ip netns exec gfsite ip link set gfupp master br0", "ip netns exec gfsite ip link set gfupp up",
              "ip addr add 10.234.0.1/24 dev gfup", "ip link set gfup up",
              # The site's uplink: 100 Mbit/s from the sender.
              "tc qdisc add dev gfup root tbf rate 100mbit burst 256kb latency 100ms"):
        sh(c)
    ssh_config = os.path.join(WORK, "ssh_config")
    open(ssh_config, "w").close()
    os.makedirs("/run/sshd", exist_ok=True)
    for i in range(1, NODES + 1):
        node_up(i, ssh_config)
    for _ in range(150):
        if all(sh(f"ssh -F {ssh_config} n{i} true", check=False) == "" for i in range(1, NODES + 1)):
            break
        time.sleep(0.2)
    else:
        raise SystemExit("bench: the nodes did not come up")
    return ssh_config


def node_up(i, ssh_config):
    d = os.path.join(WORK, f"n{i}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "bin"))
    os.makedirs(os.path.join(d, "tmp"))
    ns, ip = f"gfn{i}", f"10.234.0.{10 + i}"
    for c in (f"ip netns add {ns}", f"ip netns exec {ns} ip link set lo up",
              f"ip link add gfn{i} type veth peer name gfp{i}", f"ip link set gfn{i} netns gfsite",
              f"ip netns exec gfsite ip link set gfn{i} master br0", f"ip netns exec gfsite ip link set gfn{i} up",
              # Each node's own LAN link.
              f"ip netns exec gfsite tc qdisc add dev gfn{i} root tbf rate 1gbit burst 1mb latency 50ms",
              f"ip link set gfp{i} netns {ns}", f"ip netns exec {ns} ip addr add {ip}/24 dev gfp{i}",
              f"ip netns exec {ns} ip link set gfp{i} up"):
        sh(c)
    open(f"{d}/containerd.toml", "w").write(
        f'version = 2\nroot = "{d}/root"\nstate = "{d}/state"\n'
        f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "{d}/containerd.sock"\n')
    spawn(["ip", "netns", "exec", ns, "containerd", "--config", f"{d}/containerd.toml"], f"{d}/containerd.log")
    open(f"{d}/storage.conf", "w").write(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{d}/podman-root"\nrunroot = "{d}/podman-run"\n')
    for key in ("host_key", "client_key"):
        sh(f"ssh-keygen -q -t ed25519 -N '' -f {d}/{key}")
    shutil.copy(f"{d}/client_key.pub", f"{d}/authorized_keys")
    open(f"{d}/wrapper.sh", "w").write(WRAPPER.format(d=d))
    os.chmod(f"{d}/wrapper.sh", 0o755)
    for name, text in (("k3s", FAKE_K3S), ("watcher", WATCHER)):
        open(f"{d}/bin/{name}", "w").write(text)
        os.chmod(f"{d}/bin/{name}", 0o755)
    open(f"{d}/sshd_config", "w").write(
        f"Port 22\nListenAddress {ip}\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n"
        f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
        f"PasswordAuthentication no\nForceCommand {d}/wrapper.sh\n"
        f"SetEnv CONTAINERD_ADDRESS={d}/containerd.sock CONTAINERS_STORAGE_CONF={d}/storage.conf "
        f"CONTAINERS_CONF={ENV['CONTAINERS_CONF']}\n")
    spawn(["ip", "netns", "exec", ns, "/usr/sbin/sshd", "-D", "-e", "-f", f"{d}/sshd_config"], f"{d}/sshd.log")
    hostpub = " ".join(open(f"{d}/host_key.pub").read().split()[:2])
    open(f"{d}/known_hosts", "w").write(f"{ip} {hostpub}\n")
    with open(ssh_config, "a") as f:
        f.write(f"Host n{i}\n  HostName {ip}\n  User root\n  IdentityFile {d}/client_key\n"
                f"  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking yes\n  BatchMode yes\n")


def registry_up():
    """A fresh registry (empty storage) on the site's bridge."""
    for p in [p for p in PROCS if "docker-registry" in str(p.args)]:
        p.kill()
        p.wait()
        PROCS.remove(p)
    d = os.path.join(WORK, "registry")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    open(f"{d}/config.yml", "w").write(
        f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {d}/data\nhttp:\n  addr: {REGISTRY}\n")
    spawn(["ip", "netns", "exec", "gfsite", "docker-registry", "serve", f"{d}/config.yml"], f"{d}/log")
    for _ in range(100):
        if sh(f"curl -s -o /dev/null -w '%{{http_code}}' http://{REGISTRY}/v2/", check=False).strip() == "200":
            return
        time.sleep(0.1)
    raise SystemExit("bench: the registry did not start")


def tx():
    return int(open("/sys/class/net/gfup/statistics/tx_bytes").read())


def clean(i):
    """Removes every image the node holds (containerd, podman, this run's in docker)."""
    sh(f"ssh -F {WORK}/ssh_config n{i} 'for r in $(ctr -n k8s.io images ls -q); do ctr -n k8s.io images rm --sync $r >/dev/null; done; "
       f"podman rmi -af >/dev/null 2>&1; rm -rf {WORK}/n{i}/k3s/agent/images/*; true'", check=False)
    for name in (f"localhost/{REPO}:1-arm64", f"localhost/{REPO}:1"):
        sh(f"/usr/bin/docker rmi {name}", check=False)


def config(hosts, name="goapp"):
    path = os.path.join(WORK, f"{name}.yaml")
    open(path, "w").write(
        f"defaults:\n  ssh_config: {WORK}/ssh_config\napps:\n  fan:\n    context: {WORK}/app\n"
        f"    repository: {REPO}\n    tag: '1'\n    arch: [arm64]\n"
        f"registries:\n  site: {{address: '{REGISTRY}', insecure: true}}\n" + (f"hosts:\n{hosts}" if hosts else ""))
    return path


def host(i, extra):
    return f"  n{i}: {{ssh: n{i}, arch: arm64, tmp_dir: {WORK}/n{i}/tmp, {extra}}}\n"


def ship(cfg, hosts):
    before, t0 = tx(), time.monotonic()
    out = sh(f"{XTASK} ship --config {cfg} --host {','.join(hosts)} fan")
    return time.monotonic() - t0, tx() - before, out


# ---------------------------------------------------------------- figures
def fanout():
    rows = []
    for n in SIZES:
        names = [f"n{i}" for i in range(1, n + 1)]
        direct_cfg = config("".join(host(i, "import: containerd") for i in range(1, n + 1)))
        pull_cfg = config("".join(host(i, "import: containerd, pull_from: site") for i in range(1, n + 1)), "pull")
        direct, pulled = [], []
        # Alternated, so that both see the same load on this shared machine.
        for _ in range(RUNS):
            for i in range(1, n + 1):
                clean(i)
            direct.append(ship(direct_cfg, names))
            for i in range(1, n + 1):
                clean(i)
            registry_up()
            pulled.append(ship(pull_cfg, names))
        assert all(f"n{i}: pulled" in pulled[-1][2] for i in range(1, n + 1)), pulled[-1][2]
        d_t, p_t = statistics.median(x[0] for x in direct), statistics.median(x[0] for x in pulled)
        d_b, p_b = statistics.median(x[1] for x in direct), statistics.median(x[1] for x in pulled)
        # The ratio of each pair run back to back, then their median.
        ratio = statistics.median(p[0] / d[0] for d, p in zip(direct, pulled))
        rows.append((n, d_t, p_t, d_b, p_b, ratio))
        print(f"fan-out to {n} node(s): direct {d_t:.2f} s {d_b / 1e6:.1f} MB   push+pull {p_t:.2f} s {p_b / 1e6:.1f} MB"
              f"   ratio {ratio:.3f}", flush=True)
    return rows


KINDS = [
    ("containerd", "import: containerd", None),
    ("k3s (`k3s ctr` stand-in)", "import: k3s", None),
    ("k3s-dir (watcher stand-in)", f"import: k3s-dir, images_dir: {WORK}/n1/k3s/agent/images", "watcher"),
    ("docker", "import: docker", None),
    ("podman", "import: podman", None),
    ("custom command, `store: containerd`",
     "import: {command: [sh, -c, 'exec ctr -n k8s.io images import --platform \"$GOAPP_PLATFORM\" -'], store: containerd}", None),
    ("pull_from: a site registry", "import: containerd, pull_from: site", None),
]


def reship():
    rows = []
    os.makedirs(f"{WORK}/n1/k3s/agent/images", exist_ok=True)
    for name, kind, helper in KINDS:
        clean(1)
        registry_up()
        watcher = None
        if helper:
            watcher = spawn(["ip", "netns", "exec", "gfn1", "env", f"CONTAINERD_ADDRESS={WORK}/n1/containerd.sock",
                             f"{WORK}/n1/bin/watcher", f"{WORK}/n1/k3s/agent/images"], f"{WORK}/n1/watcher.log")
        cfg = config(host(1, kind))
        _, first, out = ship(cfg, ["n1"])
        if watcher:
            # k3s imports asynchronously: wait until the stand-in has.
            for _ in range(100):
                if REPO in sh(f"ssh -F {WORK}/ssh_config n1 'ctr -n k8s.io images ls -q'", check=False):
                    break
                time.sleep(0.1)
        _, again, out2 = ship(cfg, ["n1"])
        if watcher:
            watcher.kill()
            watcher.wait()
        skipped = "is already there" in out2 and not re.search(r"n1: (sent|pulled)", out2)
        rows.append((name, first, again, skipped))
        print(f"re-ship unchanged, {name:40} first {first / 1e6:.3f} MB, again {again / 1e3:.1f} kB "
              f"({100 * again / first:.2f} %){'' if skipped else ' NOT SKIPPED'}", flush=True)
    clean(1)
    return rows


def image_size():
    out = sh(f"podman image inspect --format '{{{{.Size}}}}' localhost/{REPO}:1-arm64")
    return int(out.strip())


# ---------------------------------------------------------------- the report
BEGIN, END = "<!-- fanout:begin (scripts/bench_fanout.py) -->", "<!-- fanout:end -->"


def write_section(fan, kinds, size):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    six = next(r for r in fan if r[0] == 6)
    one = next(r for r in fan if r[0] == 1)
    # What 6 nodes with their own CPUs would see: direct ssh adds one more
    # copy of the image on the shared uplink per node (everything else runs
    # in parallel on the nodes); push + pull sends it once, and the pulls run
    # in parallel on separate links, so it stays near the one-node time.
    link = one[3] * 8 / 100e6
    model_direct = one[1] + 5 * link
    model_pull = one[2]
    lines = [
        BEGIN,
        "## Fan-out: direct ssh against push once, then pull",
        "",
        f"Measured {datetime.date.today().isoformat()} with `scripts/bench.sh {RUNS} fanout` (medians of {RUNS}; "
        f"load average {LOAD[0]:.1f} before, {LOAD[1]:.1f} after — this machine is shared); "
        f"{os.cpu_count()} × {cpu}. One arm64 image of {size / 1e6:.1f} MB (the example app plus a "
        f"{ASSET_MIB} MiB asset that does not compress) to containerd nodes. Every node is a network "
        "namespace with its own veth (1 Gbit/s) on a site bridge; the sender reaches the site through "
        "one veth limited to 100 Mbit/s with `tc` (the uplink), where the bytes are counted. **Direct**: "
        "`ship` streams the image over ssh to every node at once (one save, fanned out). **Push + pull**: "
        "the same `ship` with `pull_from: site`: the image is pushed once to a registry on the site "
        "(Debian's `docker-registry`, emptied before each run), then every node's containerd pulls it "
        "(`ctr images pull --plain-http`) at once, and names and pins it.",
        "",
        "| nodes | direct, time | push + pull, time | ratio (push+pull / direct, per pair) | direct, bytes on the uplink | push + pull, bytes on the uplink |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, d_t, p_t, d_b, p_b, ratio in fan:
        lines.append(f"| {n} | {d_t:.2f} s | {p_t:.2f} s | {ratio:.3f} | {d_b / 1e6:.1f} MB | {p_b / 1e6:.1f} MB |")
    lines += [
        "",
        f"- 6 nodes: push + pull takes **{six[5]:.2f} ×** the time of direct ssh (target ≤ 0.4; the median of the "
        f"ratios of runs done back to back) and sends "
        f"{six[4] / six[3]:.2f} × its bytes over the uplink: the uplink carries the image once, whatever the number of nodes.",
        f"- This machine has 2 cores for the sender, the registry and all six nodes (containerd gunzips and unpacks "
        f"the layers on each), and other engineers' test suites ran meanwhile (load above): the push + pull column is "
        f"CPU-bound here, not link-bound. With nodes that have their own CPUs, from the one-node figures: direct ≈ "
        f"{one[1]:.2f} s + 5 × {link:.2f} s (one more copy per node on the 100 Mbit/s uplink) = {model_direct:.2f} s, "
        f"push + pull ≈ {model_pull:.2f} s (sent once, pulled in parallel): **{model_pull / model_direct:.2f} ×** "
        f"(a model from measured parts, not a measurement).",
        "- Where each wins: with one node the two are about even (the image crosses the uplink once either way; push + pull "
        "adds the registry's round trips, direct adds the checksum pass before the import) and direct needs no registry; "
        "from a few nodes on, "
        "direct ssh pays the image once per node on the shared uplink, while push + pull pays it once and the nodes "
        "fetch it over their own links. All nodes here share this machine's 2 cores (containerd unpacks the layers "
        "on each), which is the part that still grows with the number of nodes in both columns; on real nodes that part "
        "runs in parallel.",
        "",
        "### Re-ship unchanged, per import kind",
        "",
        "The first ship to one node, then the same `ship` again with nothing changed; bytes on the uplink "
        "(the second run's are the ssh probe). k3s cannot be installed here: `k3s ctr` on the node is "
        "containerd's `ctr`, and for `k3s-dir` a watcher stand-in imports and pins what is renamed into "
        "the directory, as k3s does.",
        "",
        "| import kind | first ship | again | again / first | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, first, again, skipped in kinds:
        note = "" if skipped else " (sent again!)"
        lines.append(f"| {name} | {first / 1e6:.3f} MB | {again / 1e3:.1f} kB | {100 * again / first:.2f} %{note} | ≤ 1 % |")
    lines += ["", END, ""]
    path = os.path.join(ROOT, "docs", "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    section = "\n".join(lines)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(path, "w").write(text)
    print(f"bench: wrote the fan-out section of {path}")


def main():
    os.makedirs(WORK, exist_ok=True)
    make_app()
    print(f"bench fan-out: {RUNS} run(s) per figure", flush=True)
    sh(f"{XTASK} image --config {config('')} fan")
    size = image_size()
    LOAD[0] = os.getloadavg()[0]
    try:
        net_up()
        fan = fanout()
        kinds = reship()
        LOAD[1] = os.getloadavg()[0]
    finally:
        net_down()
        for name in (f"localhost/{REPO}:1-arm64", f"localhost/{REPO}:1"):
            sh(f"podman rmi -f {name}", check=False)
    import json
    json.dump({"fan": fan, "kinds": kinds, "size": size, "load": LOAD},
              open(os.path.join(WORK, "results.json"), "w"))
    write_section(fan, kinds, size)


if __name__ == "__main__":
    main()
