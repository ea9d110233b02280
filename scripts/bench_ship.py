"""Shipping figures for scripts/bench.py: containerd nodes behind sshd in
network namespaces, each on a veth limited to 100 Mbit/s with `tc`."""
import os
import re
import shutil
import subprocess
import time

from bench_builds import one_line_change
from bench_common import ROOT, RUNS, WORK, XTASK, median, sh, timed

NODES = 3
SHELL_IMAGE = "localhost/bench-shell-p:1-arm64"


def measure_hashing():
    """Context hashing on a large context: 20,000 files, ~300 MB."""
    ctx = os.path.join(WORK, "big")
    shutil.rmtree(ctx, ignore_errors=True)
    os.makedirs(ctx)
    for d in range(100):
        sub = os.path.join(ctx, f"pkg{d:03}")
        os.makedirs(sub)
        for f in range(200):
            size = 64 * 1024 if f % 13 == 0 else 4 * 1024
            with open(os.path.join(sub, f"f{f:03}.go"), "wb") as fh:
                fh.write(os.urandom(size))
    shutil.copy(os.path.join(ROOT, "example/joke/go.mod"), ctx)
    open(os.path.join(ctx, "Containerfile"), "w").write("FROM scratch\nCOPY . /src\n")
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(ctx) for f in fs)
    files = sum(len(fs) for _, _, fs in os.walk(ctx))
    old = time.time() - 3600
    for dp, _, fs in os.walk(ctx):
        for f in fs:
            os.utime(os.path.join(dp, f), (old, old))
    cmd = f"{XTASK} image --dry-run --arch amd64 --tag big:1"
    sh("sync")
    shutil.rmtree(os.path.join(WORK, "cache/contexts"), ignore_errors=True)
    cold = timed(cmd, cwd=ctx)[0]
    warm = median(timed(cmd, cwd=ctx)[0] for _ in range(5))
    shutil.rmtree(ctx, ignore_errors=True)
    return files, total, cold, warm


def stable_digests():
    """Are layer digests the same between two saves of one image?"""
    blobs = []
    for _ in range(2):
        blobs.append(sorted(re.findall(r"blobs/sha256/([0-9a-f]{64})", sh("podman save --format oci-archive localhost/bench-tool-x:1-arm64 | tar t"))))
        time.sleep(1.5)
    return blobs[0] == blobs[1], len(blobs[0])


# ---------------------------------------------------------------- the nodes
def start_nodes():
    nodes = []
    ssh_config = os.path.join(WORK, "ssh_config")
    open(ssh_config, "w").close()
    os.makedirs("/run/sshd", exist_ok=True)
    for i in range(1, NODES + 1):
        d = os.path.join(WORK, f"node{i}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.join(d, "tmp"))
        ns, veth, peer = f"gbench{i}", f"gbv{i}", f"gbp{i}"
        sh(f"ip netns del {ns}", check=False)
        sh(f"ip link del {veth}", check=False)
        for c in (f"ip netns add {ns}", f"ip link add {veth} type veth peer name {peer}",
                  f"ip link set {peer} netns {ns}", f"ip addr add 10.233.{i}.1/24 dev {veth}",
                  f"ip link set {veth} up", f"ip netns exec {ns} ip addr add 10.233.{i}.2/24 dev {peer}",
                  f"ip netns exec {ns} ip link set {peer} up", f"ip netns exec {ns} ip link set lo up",
                  # 100 Mbit/s towards the node (the direction images travel).
                  f"tc qdisc add dev {veth} root tbf rate 100mbit burst 256kb latency 100ms"):
            sh(c)
        open(os.path.join(d, "containerd.toml"), "w").write(
            f'version = 2\nroot = "{d}/root"\nstate = "{d}/state"\n'
            f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "{d}/containerd.sock"\n')
        ctd = subprocess.Popen(["containerd", "--config", f"{d}/containerd.toml"], stdout=subprocess.DEVNULL,
                               stderr=open(f"{d}/containerd.log", "w"))
        for key in ("host_key", "client_key"):
            sh(f"ssh-keygen -q -t ed25519 -N '' -f {d}/{key}")
        shutil.copy(f"{d}/client_key.pub", f"{d}/authorized_keys")
        open(f"{d}/sshd_config", "w").write(
            f"Port 22\nListenAddress 10.233.{i}.2\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n"
            f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
            f"PasswordAuthentication no\nSetEnv CONTAINERD_ADDRESS={d}/containerd.sock\n")
        sshd = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/sbin/sshd", "-D", "-e", "-f", f"{d}/sshd_config"],
                                stderr=open(f"{d}/sshd.log", "w"))
        hostpub = " ".join(open(f"{d}/host_key.pub").read().split()[:2])
        open(f"{d}/known_hosts", "w").write(f"10.233.{i}.2 {hostpub}\n")
        with open(ssh_config, "a") as f:
            f.write(f"Host n{i}\n  HostName 10.233.{i}.2\n  User root\n  IdentityFile {d}/client_key\n"
                    f"  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking yes\n"
                    f"  BatchMode yes\n")
        nodes.append((i, ns, veth, ctd, sshd, d))
    for _ in range(100):
        if all(sh(f"ssh -F {ssh_config} n{i} true", check=False) == "" for i in range(1, NODES + 1)):
            break
        time.sleep(0.2)
    return nodes, ssh_config


def stop_nodes(nodes):
    for (i, ns, veth, ctd, sshd, d) in nodes:
        for p in (sshd, ctd):
            p.kill()
            p.wait()
        sh(f"ip netns del {ns}", check=False)
        sh(f"ip link del {veth}", check=False)


def tx(veth):
    return int(open(f"/sys/class/net/{veth}/statistics/tx_bytes").read())


def clean_node(ssh_config, i):
    sh(f"ssh -F {ssh_config} n{i} 'for r in $(ctr -n k8s.io images ls -q); do ctr -n k8s.io images rm --sync $r >/dev/null; done'", check=False)


def shell_ship(ssh_config, i, image):
    """The habit from the ship issue, made to work on containerd 1.6 (it
    needs the archive decompressed) and with the platform stated."""
    return (f"podman save {image} | gzip | ssh -F {ssh_config} n{i} 'cat > /tmp/img.tar.gz' && "
            f"ssh -F {ssh_config} n{i} 'gunzip -c /tmp/img.tar.gz | ctr -n k8s.io images import --platform linux/arm64 - >/dev/null && rm -f /tmp/img.tar.gz'")


def write_config(b, ssh_config):
    # The "nodes" share this machine's file system: each its own tmp_dir.
    hosts = "".join(f"  n{i}: {{ssh: n{i}, arch: arm64, import: containerd, tmp_dir: {WORK}/node{i}/tmp}}\n"
                    for i in range(1, NODES + 1))
    open(os.path.join(WORK, "goapp.yaml"), "w").write(
        f"defaults:\n  ssh_config: {ssh_config}\napps:\n{b.config()}hosts:\n{hosts}")


# ---------------------------------------------------------------- the run
def measure(b, row, diag):
    """Every shipping figure; returns what the markdown's notes need."""
    nodes, ssh_config = start_nodes()
    try:
        write_config(b, ssh_config)
        veth1 = nodes[0][2]
        b.shell("p", "arm64", "ship")
        sh(f"{XTASK} image bench-x --arch arm64", cwd=WORK)
        stable, nblobs = stable_digests()
        diag.update(stable=stable, nblobs=nblobs)
        print(f"{'layer digests stable between saves':48} {'yes' if stable else 'NO'} ({nblobs} blobs)", flush=True)
        ship = f"{XTASK} ship --host n1 bench-x"

        def measured(cmd, before=None):
            if before:
                before()
            sent = tx(veth1)
            t0 = time.monotonic()
            sh(cmd, cwd=WORK)
            return time.monotonic() - t0, tx(veth1) - sent

        first_s = [measured(shell_ship(ssh_config, 1, SHELL_IMAGE), lambda: clean_node(ssh_config, 1)) for _ in range(RUNS)]
        first_t = [measured(ship, lambda: clean_node(ssh_config, 1)) for _ in range(RUNS)]
        row("first ship, time", median(x[0] for x in first_s), median(x[0] for x in first_t))
        row("first ship, bytes on the link", median(x[1] for x in first_s), median(x[1] for x in first_t), unit="B")
        again_s = [measured(shell_ship(ssh_config, 1, SHELL_IMAGE)) for _ in range(RUNS)]
        again_t = [measured(ship) for _ in range(RUNS)]
        row("re-ship unchanged, time", median(x[0] for x in again_s), median(x[0] for x in again_t))
        row("re-ship unchanged, bytes on the link", median(x[1] for x in again_s), median(x[1] for x in again_t), unit="B",
            target="≤ 1 % of the first ship")
        first_tool_bytes = median(x[1] for x in first_t)

        # After a one-line change: the changed layer is the binary's.
        chg_s, chg_t, layer = [], [], []
        for _ in range(RUNS):
            before_blobs = set(re.findall(r"blobs/sha256/([0-9a-f]{64})", sh("podman save --format oci-archive localhost/bench-tool-x:1-arm64 | tar t")))
            one_line_change(b.app, f"ship-{len(chg_s)}")
            b.shell("p", "arm64", "ship")
            sh(f"{XTASK} image bench-x --arch arm64", cwd=WORK)
            listing = sh("podman save --format oci-archive localhost/bench-tool-x:1-arm64 | tar tv")
            sizes = {m.group(2): int(m.group(1)) for m in re.finditer(r"\s(\d+)\s.*blobs/sha256/([0-9a-f]{64})", listing)}
            new = [sz for d, sz in sizes.items() if d not in before_blobs]
            layer.append(max(new) if new else 0)
            chg_s.append(measured(shell_ship(ssh_config, 1, SHELL_IMAGE)))
            chg_t.append(measured(ship))
        row("ship after a one-line Go change, time", median(x[0] for x in chg_s), median(x[0] for x in chg_t))
        row("ship after a one-line Go change, bytes", median(x[1] for x in chg_s), median(x[1] for x in chg_t), unit="B")
        changed_layer = median(layer)
        print(f"{'  changed layer (compressed blob)':48} {changed_layer / 1e6:.3f} MB; tool/layer {median(x[1] for x in chg_t) / changed_layer:.2f} (target ≤ 1.1)", flush=True)

        # Three hosts at once.
        all3 = lambda: [clean_node(ssh_config, i) for i in range(1, NODES + 1)]
        three_s, three_t = [], []
        for _ in range(RUNS):
            all3()
            t0 = time.monotonic()
            for i in range(1, NODES + 1):
                sh(shell_ship(ssh_config, i, SHELL_IMAGE), cwd=WORK)
            three_s.append(time.monotonic() - t0)
            all3()
            three_t.append(timed(f"{XTASK} ship --host n1,n2,n3 bench-x", cwd=WORK)[0])
        one_s, one_t = median(x[0] for x in first_s), median(x[0] for x in first_t)
        row("ship to three hosts, time", median(three_s), median(three_t))
        # Diagnostic: the same without the nodes' import work, which here
        # competes with the sender for this machine's cores.
        discard_cfg = os.path.join(WORK, "goapp-discard.yaml")
        hosts = "".join(f"  n{i}: {{ssh: n{i}, arch: arm64, import: {{command: [sh, -c, 'cat > /dev/null']}}, tmp_dir: {WORK}/node{i}/tmp}}\n" for i in range(1, NODES + 1))
        open(discard_cfg, "w").write(open(os.path.join(WORK, "goapp.yaml")).read().split("hosts:")[0] + "hosts:\n" + hosts)
        d1_t = median(timed(f"{XTASK} ship --config {discard_cfg} --host n1 bench-x", cwd=WORK)[0] for _ in range(RUNS))
        d3_t = median(timed(f"{XTASK} ship --config {discard_cfg} --host n1,n2,n3 bench-x", cwd=WORK)[0] for _ in range(RUNS))
        discard = lambda i: f"podman save {SHELL_IMAGE} | gzip | ssh -F {ssh_config} n{i} 'cat > /dev/null'"
        d1_s = median(timed(discard(1), cwd=WORK)[0] for _ in range(RUNS))
        d3_s = median(timed(" && ".join(discard(i) for i in range(1, NODES + 1)), cwd=WORK)[0] for _ in range(RUNS))
        print(f"{'  transfer only (import discarded), 3 vs 1 host':48} shell {d3_s / d1_s:.2f}   tool {d3_t / d1_t:.2f}", flush=True)
        diag.update(d1_s=d1_s, d3_s=d3_s, d1_t=d1_t, d3_t=d3_t)
        print(f"{'  three hosts / one host':48} shell {median(three_s) / one_s:.2f}   tool {median(three_t) / one_t:.2f} (target ≤ 1.3)", flush=True)
    finally:
        stop_nodes(nodes)

    return dict(changed_layer=changed_layer, chg_tool_bytes=median(x[1] for x in chg_t), one_s=one_s, one_t=one_t,
                three_s=median(three_s), three_t=median(three_t), first_tool_bytes=first_tool_bytes)
