"""Build figures for scripts/bench.py: the same Containerfile on both sides.

Three files, all buildable unchanged by the shell flow on podman 4.3.1:
  P  published style: builder with no --platform (arm64 under QEMU), `ARG
     CGO_ENABLED="0"`, sources bind-mounted into `go build`;
  X  the cross-compiling example (builder on $BUILDPLATFORM, GOARCH=$TARGETARCH);
  C  P with the sources COPY'd instead of bind-mounted.
"Cold" means no layer and no cache mount of this round exists: every cache
mount gets a per-round id, and each build's own layers (from its first step
that names that id on) are removed afterwards — nothing else on the machine
is touched.
"""
import os
import re
import shutil
import subprocess
import time

from bench_common import ENV, GOVER, WORK, XTASK, median, sh, timed

BUILDER = "docker.io/library/golang:" + GOVER.rsplit(".", 1)[0] + "-bookworm"

P_CF = f"""# The published style (see tests/fixtures/published-bind), written so that
# podman 4.3.1 builds it as it is: absolute mount targets, no heredocs.
FROM {BUILDER} AS build
ARG CGO_ENABLED="0"
WORKDIR /src
RUN --mount=type=cache,id=@ID@-mod,target=/go/pkg/mod \\
    --mount=type=bind,source=go.mod,target=/src/go.mod \\
    go mod download
RUN --mount=type=cache,id=@ID@-mod,target=/go/pkg/mod \\
    --mount=type=cache,id=@ID@-gb,target=/root/.cache/go-build \\
    --mount=type=bind,target=/src \\
    go build -trimpath -ldflags='-s -w' -o /out/app .

FROM scratch
COPY static.bin /static.bin
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
"""

C_CF = f"""# P with the sources copied instead of bind-mounted.
FROM {BUILDER} AS build
ARG CGO_ENABLED="0"
WORKDIR /src
COPY go.mod ./
RUN --mount=type=cache,id=@ID@-mod,target=/go/pkg/mod go mod download
COPY main.go ./
RUN --mount=type=cache,id=@ID@-mod,target=/go/pkg/mod \\
    --mount=type=cache,id=@ID@-gb,target=/root/.cache/go-build \\
    go build -trimpath -ldflags='-s -w' -o /out/app .

FROM scratch
COPY static.bin /static.bin
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
"""


def x_cf(root):
    """The example app's Containerfile, with the asset layer and round ids."""
    text = open(os.path.join(root, "example/joke/Containerfile")).read()
    text = text.replace("FROM scratch\n", "FROM scratch\nCOPY static.bin /static.bin\n")
    text = text.replace("type=cache,target=/go/pkg/mod", "type=cache,id=@ID@-mod,target=/go/pkg/mod")
    return text.replace("type=cache,target=/root/.cache/go-build", "type=cache,id=@ID@-gb,target=/root/.cache/go-build")


class Builds:
    def __init__(self, root, app):
        self.root, self.app = root, app
        self.files = {"p": P_CF, "x": x_cf(root), "c": C_CF}
        self.logs = os.path.join(WORK, "cache", "logs")
        for kind in self.files:  # the config names them: they must exist
            self.write(kind, "init")

    def write(self, kind, rid):
        """Writes the file for round `rid`; returns its name in the context."""
        name = f"{kind}.Containerfile"
        text = self.files[kind].replace("@ID@", f"goapp-bench-{rid}")
        open(os.path.join(self.app, name), "w").write(text)
        return name

    def config(self):
        apps = "".join(
            f"  bench-{k}:\n    context: {self.app}\n    containerfile: {k}.Containerfile\n"
            f"    repository: bench-tool-{k}\n    tag: '1'\n" for k in self.files)
        return apps

    # --------------------------------------------------------- the two flows
    def shell(self, kind, arch, rid):
        """build.sh's command line (without secrets and ssh, which need files)."""
        name = self.write(kind, rid)
        # build.sh plus the one fix podman 4.x needs for X to build at all:
        # it leaves $BUILDPLATFORM empty in FROM unless it is passed.
        t, out = timed(f"podman buildx build --platform linux/{arch} --build-arg TAG_GOVER={GOVER} "
                       f"--build-arg MAIN_PKG_PATH=./ --build-arg GOPRIVATE= --build-arg BUILDPLATFORM=linux/amd64 "
                       f"-t bench-shell-{kind}:1-{arch} -f {name} .", cwd=self.app)
        print(f"    shell {kind} {arch}: {t:.1f} s", flush=True)
        return t, out

    def tool(self, kind, arches, rid, extra=""):
        self.write(kind, rid)
        shutil.rmtree(self.logs, ignore_errors=True)
        t, out = timed(f"{XTASK} image bench-{kind} --arch {arches} {extra}", cwd=WORK)
        print(f"    tool {kind} {arches} {extra}: {t:.1f} s", flush=True)
        logs = "".join(open(os.path.join(self.logs, f)).read() for f in sorted(os.listdir(self.logs))
                       if not os.path.islink(os.path.join(self.logs, f)))
        return t, out + logs

    # ------------------------------------------------------------- cleaning
    def forget(self, output, rid):
        """Removes the layers a cold build made (from its first step naming
        the round's id on) and the round's cache mounts."""
        ids, ours, prev = [], False, ""
        for line in output.splitlines():
            if "STEP " in line and ":" in line:
                if re.search(r"STEP 1/\d+: FROM", line):
                    ours = False
                ours = ours or f"goapp-bench-{rid}" in line
            m = re.match(r"--> ([0-9a-f]{11,64})$", line.strip())
            if m and ours and not prev.startswith("--> Using cache"):
                ids.append(m.group(1))
            prev = line.strip()
        for i in reversed(ids):
            subprocess.run(["podman", "rmi", "-f", i], env=ENV, capture_output=True)
        for d in os.listdir("/var/tmp"):
            if d.startswith(f"goapp-bench-{rid}-"):
                shutil.rmtree(os.path.join("/var/tmp", d), ignore_errors=True)

    def untag(self):
        for kind in self.files:
            for arch in ("amd64", "arm64"):
                for image in (f"bench-shell-{kind}:1-{arch}", f"bench-tool-{kind}:1-{arch}"):
                    subprocess.run(["podman", "rmi", "-f", image], env=ENV, capture_output=True)

    def cold(self, what, rid):
        """One cold measurement; `what` is a callable returning (seconds, output)."""
        self.untag()
        t, out = what(rid)
        self.forget(out, rid)
        return t


def one_line_change(app, n):
    p = os.path.join(app, "main.go")
    src = open(p).read()
    src = re.sub(r'const joke = ".*"', f'const joke = "Release {n}: why do Go programmers like containers?"', src)
    open(p, "w").write(src)
    return f"Release {n}: why do Go programmers like containers?"


def runs(image):
    return sh(f"podman run --rm {image}", check=False).strip()


def measure(b, runs_n, row, diag):
    """Every build figure; `row(name, shell, tool, target=…)` records one."""
    stamp = f"{os.getpid()}-{int(time.time())}"
    cold = {k: [] for k in ("shell_p", "tool_p", "tool_p_qemu", "shell_x", "tool_x", "tool_x_amd64", "tool_x_arm64", "shell_p_amd64", "shell_p_arm64")}
    for r in range(runs_n):
        def rid(k, r=r):
            return f"{stamp}-{r}-{k}"

        def shell_both(kind, record=None):
            def go(i):
                t1, o1 = b.shell(kind, "amd64", i)
                t2, o2 = b.shell(kind, "arm64", i)
                if record:
                    record[0].append(t1)
                    record[1].append(t2)
                return t1 + t2, o1 + o2
            return go

        def one_by_one(i):
            t1, o1 = b.tool("x", "amd64", i)
            t2, o2 = b.tool("x", "arm64", i)
            cold["tool_x_amd64"].append(t1)
            cold["tool_x_arm64"].append(t2)
            return t1 + t2, o1 + o2

        # The published-style file, unchanged, on both sides; the tool with
        # and without its cross-compile shim.
        cold["shell_p"].append(b.cold(shell_both("p", (cold["shell_p_amd64"], cold["shell_p_arm64"])), rid("sp")))
        cold["tool_p"].append(b.cold(lambda i: b.tool("p", "amd64,arm64", i), rid("tp")))
        cold["tool_p_qemu"].append(b.cold(lambda i: b.tool("p", "amd64,arm64", i, "--no-cross-compile"), rid("tq")))
        # The cross-compiling example, unchanged, on both sides.
        cold["shell_x"].append(b.cold(shell_both("x"), rid("sx")))
        cold["tool_x"].append(b.cold(lambda i: b.tool("x", "amd64,arm64", i), rid("tx")))
        # Scheduling: each architecture alone, one after the other.
        b.cold(one_by_one, rid("ts"))
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in cold.items() if v), flush=True)
    m = {k: median(v) for k, v in cold.items() if v}
    row("cold amd64+arm64, P (baseline: shell flow on P)", m["shell_p"], m["tool_p"], target="≤ 0.5")
    row("cold amd64+arm64, X (baseline: shell flow on X)", m["shell_x"], m["tool_x"])
    row("cold amd64+arm64, P with --no-cross-compile (baseline: shell flow on P)", m["shell_p"], m["tool_p_qemu"])
    diag.update(cold=m)

    # A one-line Go change, warm caches, amd64: bind-mounted vs COPY'd sources.
    for kind in ("p", "c"):
        b.write(kind, f"{stamp}-warm")
        sh(f"{XTASK} image bench-{kind} --arch amd64", cwd=WORK)
        b.shell(kind, "amd64", f"{stamp}-warm")
    ch = {k: [] for k in ("tool_p", "tool_c", "shell_c", "shell_p")}
    stale = {"tool_p": 0, "tool_c": 0, "shell_c": 0, "shell_p": 0}
    for r in range(runs_n):
        # Each build gets its own change: with the same file and content, one
        # side would reuse the layers the other just built.
        for k in ch:
            side, kind = k.split("_")
            want = one_line_change(b.app, f"{stamp}-{r}-{k}")
            if side == "tool":
                ch[k].append(timed(f"{XTASK} image bench-{kind} --arch amd64", cwd=WORK)[0])
                image = f"localhost/bench-tool-{kind}:1-amd64"
            else:
                ch[k].append(b.shell(kind, "amd64", f"{stamp}-warm")[0])
                image = f"localhost/bench-shell-{kind}:1-amd64"
            if not runs(image).startswith(want):
                stale[k] += 1
    m = {k: median(v) for k, v in ch.items()}
    row("one-line Go change, amd64, bind-mounted P (baseline: the tool on COPY'd C)", m["tool_c"], m["tool_p"], target="≤ 1.2")
    row("one-line Go change, amd64, P (baseline: shell flow on P, which ships the old binary)", m["shell_p"], m["tool_p"])
    row("one-line Go change, amd64, C (baseline: shell flow on C)", m["shell_c"], m["tool_c"])
    diag.update(change=m, stale=stale)

    # Nothing changed: the tool against the one engine query it cannot skip.
    one = "localhost/bench-tool-p:1-amd64"
    inspect = [timed(f"podman image inspect --format '{{{{.Id}}}}' {one}")[0] for _ in range(10)]
    noop = [timed(f"{XTASK} image bench-p --arch amd64", cwd=WORK)[0] for _ in range(10)]
    row("no-op rebuild, amd64 (baseline: one `podman image inspect`)", median(inspect), median(noop), target="≤ 1.3")
    sh(f"{XTASK} image bench-p --arch amd64,arm64", cwd=WORK)
    noop2 = [timed(f"{XTASK} image bench-p --arch amd64,arm64", cwd=WORK)[0] for _ in range(10)]
    over = [timed(f"{XTASK} image bench-p --dry-run --arch amd64,arm64", cwd=WORK)[0] for _ in range(10)]
    diag.update(inspect=median(inspect), noop=median(noop), noop2=median(noop2), overhead=median(over))
    print(f"  no-op both arches {median(noop2) * 1000:.0f} ms; overhead (--dry-run) {median(over) * 1000:.1f} ms", flush=True)
