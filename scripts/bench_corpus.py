#!/usr/bin/env python3
"""The corpus of real Dockerfile patterns (tests/fixtures/corpus), measured.

1. The share of safe fixtures goapp-build cross-compiles, and that it
   cross-compiles no unsafe one (`image --dry-run`: nothing is built).
2. Cold amd64+arm64 builds of the same, unchanged file on both sides: the
   plain per-arch podman flow (`podman build --platform linux/<arch>`, one
   after the other, as build.sh does) against `goapp image --arch
   amd64,arm64`. Cold: `--no-cache` on both sides, so every step runs.
   The articles' own file (21) always; RUNS others, different each run.
Writes its section into docs/BENCHMARKS.md (between the corpus markers).
A benchmark, not a test: nothing here fails because a machine is slow.
Usage: bench_corpus.py [RUNS] [FIXTURE …]
"""
import json
import os
import re
import shutil
import sys
import tempfile
import time

from bench_common import ENV, GOVER, ROOT, RUNS, WORK, XTASK, median, sh, timed

CORPUS = os.path.join(ROOT, "tests/fixtures/corpus")
ARTICLE = "21-blog-app-src-bin-mainpkg"
# Each fixture is built as it is, with no config, as tests/corpus.rs does: not
# bench.py's (GOAPP_CONFIG, which lists its own apps and may not exist yet), nor
# one found walking up from the copy (inside the repository that would be
# config/goapp.yaml), so the copies live outside it.
ENV.pop("GOAPP_CONFIG", None)
COPIES = tempfile.mkdtemp(prefix="goapp-bench-corpus-")


def fixtures():
    out = []
    for d in sorted(os.listdir(CORPUS)):
        p = os.path.join(CORPUS, d, "expect.json")
        if os.path.isfile(p):
            out.append((d, json.load(open(p))))
    return out


def copy(name):
    dst = os.path.join(COPIES, name)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(os.path.join(CORPUS, name), dst)
    return dst


def env_and_args(expect):
    env, args = {}, []
    for k, v in (expect.get("build_args") or {}).items():
        if k == "MAIN_PKG_PATH":
            env[k] = v
        else:
            args += ["--build-arg", f"{k}={v}"]
    return env, args


def decisions():
    """(name, safe, crossed, moved) per fixture, from `image --dry-run`:
    crossed, no stage that builds Go is left under QEMU; moved, the tool put a
    stage on the build platform (a file may put it there itself)."""
    out = []
    for name, expect in fixtures():
        app = copy(name)
        env, args = env_and_args(expect)
        ENV.update(env)
        text = sh([XTASK, "image", "--dry-run", "--arch", "amd64,arm64", "--go-version", GOVER,
                   "--tag", "bench/corpus:1", *args], cwd=app)
        for k in env:
            ENV.pop(k, None)
        out.append((name, expect["safe"], "under QEMU" not in text,
                    "shim: builder stage moved" in text))
    return out


def podman_args(expect):
    args = []
    for k, v in (expect.get("build_args") or {}).items():
        args += ["--build-arg", f"{k}={v}"]
    return args


def cold(name, expect):
    """Seconds for both sides, cold, on the unchanged file."""
    app = copy(name)
    tag = f"bench/corpus-{name}"
    shell_cmd = " && ".join(
        f"podman build --no-cache -q --platform linux/{a} {' '.join(podman_args(expect))} -t {tag}:sh-{a} -f Dockerfile ."
        for a in ("amd64", "arm64"))
    env, args = env_and_args(expect)
    try:
        t_shell, _ = timed(shell_cmd, cwd=app)
        ENV.update(env)
        t_tool, _ = timed([XTASK, "image", "--no-cache", "-q", "--arch", "amd64,arm64", "--go-version", GOVER,
                           "--tag", f"{tag}:tool", "--allow-unstartable", *args], cwd=app)
    finally:
        # Our own names only, also when a side failed (the store is shared).
        for k in env:
            ENV.pop(k, None)
        sh(f"podman manifest rm {tag}:tool", check=False)
        for a in ("amd64", "arm64"):
            sh(f"podman untag {tag}:sh-{a} {tag}:sh-{a}", check=False)
            sh(f"podman untag {tag}:tool-{a} {tag}:tool-{a}", check=False)
    return t_shell, t_tool


def main():
    os.makedirs(WORK, exist_ok=True)
    load_before = os.getloadavg()[0]
    picked = [a for a in sys.argv[1:] if not a.isdigit()]
    d = decisions()
    safe = [x for x in d if x[1]]
    unsafe = [x for x in d if not x[1]]
    crossed = [x for x in safe if x[2]]
    wrong = [x for x in unsafe if x[3]]
    print(f"corpus: {len(crossed)} of {len(safe)} safe fixtures cross-compiled; "
          f"{len(wrong)} of {len(unsafe)} unsafe ones moved to the build platform", flush=True)
    by = dict(fixtures())
    names = [ARTICLE] + (picked or [x[0] for x in crossed if x[0] != ARTICLE][:RUNS])
    rows = []
    for n in names:
        t_shell, t_tool = cold(n, by[n])
        rows.append((n, t_shell, t_tool, t_tool / t_shell))
        print(f"{n:48} shell {t_shell:7.1f} s   goapp {t_tool:7.1f} s   ratio {t_tool / t_shell:.3f}", flush=True)
    write(len(crossed), len(safe), len(wrong), len(unsafe), rows,
          [x for x in safe if not x[2]], (load_before, os.getloadavg()[0]))


def write(crossed, safe, wrong, unsafe, rows, left, load):
    path = os.path.join(ROOT, "docs/BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    lines = [
        "<!-- corpus: written by scripts/bench_corpus.py -->",
        "## The corpus of real Dockerfile patterns",
        "",
        f"`tests/fixtures/corpus`: our own fixtures of the patterns of public Go repositories' Dockerfiles (each names the file that showed it). podman {sh('podman --version').split()[-1]}, Go {GOVER}.",
        f"Measured {time.strftime('%Y-%m-%d')} with `scripts/bench.sh {RUNS} corpus`; load average {load[0]:.1f} at the start, {load[1]:.1f} at the end (the machine is shared).",
        "",
        f"- Safe fixtures cross-compiled: **{crossed} of {safe}** ({100 * crossed / safe:.0f} %).",
    ]
    for n, *_ in left:
        lines.append(f"  - left under emulation: `{n}` (see tests/fixtures/corpus/NOT_CROSSED)")
    lines += [
        f"- Unsafe fixtures (cgo, an arch probe, a fixed GOARCH) moved to the build platform by the tool: **{wrong} of {unsafe}**.",
        "",
        "Cold amd64+arm64 on the unchanged file (`--no-cache` both sides), one build per side and fixture, both sides in the same run, back to back (the podman flow first): the per-arch podman flow (two `podman build --platform`, one after the other, as build.sh does) against `goapp image --arch amd64,arm64` (ratio: goapp-build / podman flow):",
        "",
        "| fixture | podman per arch | goapp-build | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {n} | {a:.1f} s | {b:.1f} s | {r:.3f} |" for n, a, b, r in rows]
    lines.append("<!-- /corpus -->")
    block = "\n".join(lines) + "\n"
    if "<!-- corpus:" in text:
        text = re.sub(r"<!-- corpus:.*?<!-- /corpus -->\n", block, text, flags=re.S)
    else:
        text += "\n" + block
    open(path, "w").write(text)


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(COPIES, ignore_errors=True)
