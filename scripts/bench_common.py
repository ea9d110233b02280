"""Shared helpers of the benchmark scripts (see scripts/bench.py)."""
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 3
WORK = os.path.join(ROOT, "target", "bench")
XTASK = os.path.join(ROOT, "target", "debug", "xtask")
GOVER = open(os.path.join(ROOT, "target/goapp-fixtures/go-version")).read().strip()
ENV = dict(os.environ)
ENV.update({
    "CONTAINERS_CONF": os.path.join(ROOT, "scripts/containers.conf"),
    "GOAPP_GO_REPO": os.path.join(ROOT, "target/goapp-fixtures/go-tags.git"),
    "GOAPP_CACHE_DIR": os.path.join(WORK, "cache"),
    "GOAPP_CONFIG": os.path.join(WORK, "goapp.yaml"),
})
for k in ("SSH_AUTH_SOCK", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "TARGET_ARCH"):
    ENV.pop(k, None)


# buildah races with image removals by other users of the same storage
# (containers/buildah#5615); such a failure says nothing about the build.
RACES = ("layer not known", "checking if cached image exists")


def sh(cmd, check=True, quiet=True, cwd=None):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), cwd=cwd or WORK, env=ENV,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0 and any(x in r.stdout for x in RACES):
        print("bench: an engine race (buildah #5615); running it again", flush=True)
        r = subprocess.run(cmd, shell=isinstance(cmd, str), cwd=cwd or WORK, env=ENV,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"bench: `{cmd}` failed ({r.returncode}):\n{r.stdout[-3000:]}")
    return r.stdout


def timed(cmd, **kw):
    t = time.monotonic()
    out = sh(cmd, **kw)
    return time.monotonic() - t, out


def median(xs):
    return statistics.median(xs)
