"""The no-op rebuild on every engine: `cargo xtask image` of an image that is
up to date, against one `image inspect` of that image by the same engine, A
and B in turn (A B A B …) so that a drifting machine moves both; the ratio
is taken pair by pair and its median reported. The engines are this
machine's podman and docker and the matrix's (scripts/matrix.sh), each
reached the way a user of it does: its command first on PATH (for docker
also DOCKER_HOST). Writes its section of docs/BENCHMARKS.md.

Usage: python3 scripts/bench_engines.py [RUNS]   (default 3; pairs = 10 × RUNS)
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, RUNS, WORK, median  # noqa: E402

XTASK = os.path.join(ROOT, "target", "release", "xtask")
MATRIX = os.path.join(ROOT, "scripts", "matrix.sh")
BEGIN, END = "<!-- engines:begin (scripts/bench_engines.py) -->", "<!-- engines:end -->"
ENGINES = ["podman-bookworm", "docker-bookworm", "podman-trixie", "podman-sid",
           "docker-trixie", "docker-sid"]


def engine_env(name):
    """The environment a user of that engine has, and its program."""
    env = dict(os.environ)
    for k in ("SSH_AUTH_SOCK", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
              "TARGET_ARCH", "GOAPP_CONFIG", "DOCKER_HOST"):
        env.pop(k, None)
    env["CONTAINERS_CONF"] = os.path.join(ROOT, "scripts/containers.conf")
    env["GOAPP_CACHE_DIR"] = os.path.join(WORK, "engines-cache", name)
    kind, suite = name.split("-")
    if suite == "bookworm":
        bindir = os.path.join(WORK, "engines-bin", kind)
        os.makedirs(bindir, exist_ok=True)
        link = os.path.join(bindir, kind)
        if not os.path.islink(link):
            os.symlink(f"/usr/bin/{kind}", link)
        env["PATH"] = bindir + ":" + env["PATH"]
        env["GOAPP_GO_REPO"] = os.path.join(ROOT, "target/goapp-fixtures/go-tags.git")
        out = subprocess.run([link, "--version"], capture_output=True, text=True).stdout
        # `Docker version 20.10.24+dfsg1, build 297e128`, `podman version 4.3.1`
        found = re.search(r"version\s+([^\s,]+)", out)
        version = found.group(1) if found else "?"
    else:
        subprocess.run([MATRIX, "setup", name], check=True, capture_output=True)
        subprocess.run([MATRIX, "start", name], check=True, capture_output=True)
        out = subprocess.run([MATRIX, "env", name], check=True, capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                env[k] = v.replace("$PATH", env["PATH"])
        version = subprocess.run([MATRIX, "which", name], capture_output=True,
                                 text=True).stdout
    env["GOAPP_ENGINE"] = kind
    return env, kind, version.split()[-1] if version.split() else "?"


def run(cmd, env, cwd):
    t = time.monotonic()
    r = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench: `{' '.join(cmd)}` failed:\n{r.stdout[-2000:]}")
    return time.monotonic() - t, r.stdout


def measure(name, pairs):
    env, kind, version = engine_env(name)
    app = os.path.join(WORK, "engines-app")
    if not os.path.isdir(app):
        shutil.copytree(os.path.join(ROOT, "example", "joke"), app)
    tag = f"goapp-bench/noop-{name}:1"
    image = ["image", "--arch", "amd64", "--tag", tag]
    run([XTASK, *image], env, app)
    _, out = run([XTASK, *image], env, app)
    if "up to date" not in out:
        raise SystemExit(f"bench: {name}: the second build was not a no-op:\n{out}")
    inspect = [kind, "image", "inspect", f"{tag}-amd64"]
    a, b, ratios = [], [], []
    for _ in range(pairs):
        ta, _ = run([XTASK, *image], env, app)
        tb, _ = run(inspect, env, app)
        a.append(ta)
        b.append(tb)
        ratios.append(ta / tb)
    run([kind, "image", "rm", f"{tag}-amd64"], env, app)
    return kind, version, median(a), median(b), median(ratios)


def main():
    os.makedirs(WORK, exist_ok=True)
    # The release build: what the figure is about is the tool's own cost.
    subprocess.run(["cargo", "build", "--quiet", "--release", "--package", "xtask"],
                   cwd=ROOT, check=True)
    pairs = 10 * RUNS
    rows = []
    for name in ENGINES:
        kind, version, ta, tb, ratio = measure(name, pairs)
        print(f"bench: {kind} {version}: no-op {ta * 1000:.0f} ms, image inspect "
              f"{tb * 1000:.0f} ms: {ratio:.2f} ×", flush=True)
        rows.append(f"| {kind} {version} | {ta * 1000:.0f} ms | {tb * 1000:.0f} ms | "
                    f"**{ratio:.2f} ×** | ≤ 1.3 |")
    lines = [
        BEGIN,
        "## The no-op on every engine",
        "",
        f"`cargo xtask image --arch amd64` of an up-to-date image (the release build) "
        f"against one `image inspect` of it by the same engine, {pairs} pairs run in turn; "
        "medians, and the median of the pairs' ratios. The matrix's engines run in roots "
        "of their own behind a launcher (`scripts/matrix.sh`): both sides pay it.",
        "",
        "| engine | no-op | `image inspect` | ratio | target |",
        "|---|---|---|---|---|",
        *rows,
        "",
        END,
        "",
    ]
    path = os.path.join(ROOT, "docs", "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    section = "\n".join(lines)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(path, "w").write(text)
    print(f"bench: wrote the engines section of {path}")


if __name__ == "__main__":
    main()
