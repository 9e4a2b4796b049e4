"""Ray clusters for tests, reachable from nothing but the test: each runs in its own network namespace.

Ray's servers (GCS, raylets, object managers, agents) listen on every interface and have no listen-address
setting, so a test runs its whole scenario, cluster and `qa index` alike, as one bash script inside `unshare`
(its own network namespace with only `lo`, its own PID namespace: when the script ends, or this process dies,
every Ray process goes with it). The cluster and its clients share a token (Ray's token authentication).
Needs root (CAP_SYS_ADMIN), `unshare` (util-linux) and `ip` (iproute2); Ray from the test extra.
"""
from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HEAD = "127.0.0.1:6379"  # inside the namespace nothing else listens, so the default port is always free
# `ray start` for a head with two CPUs (two embedding workers) on the namespace's loopback; no dashboard.
START = ("ray start --head --node-ip-address=127.0.0.1 --port=6379 --num-cpus=2 --include-dashboard=false "
         '--disable-usage-stats --temp-dir="$RAY_TMP" >"$RAY_TMP/start.log" 2>&1 || '
         '{ echo "ray start failed"; cat "$RAY_TMP/start.log"; exit 90; }')
STOP = "ray stop --force >/dev/null 2>&1"


def unavailable() -> str | None:
    """Why a private cluster cannot be started here (None: it can)."""
    if importlib.util.find_spec("ray") is None:
        return "Ray is not installed (pip install -e '.[test]' brings it)"
    if os.geteuid() != 0:
        return "starting Ray in its own network namespace needs root"
    missing = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not found (util-linux, iproute2)" if missing else None


def run_private(script: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a bash script in a private network (only lo, up) with `ray` and `qa` from this Python on its PATH."""
    # Ray's files, `ray start`'s and `--ray local`'s: short, since Ray's socket paths live under it; removed after.
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
           "RAY_TMP": ray_tmp, "RAY_TMPDIR": ray_tmp, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0"}
    try:
        return subprocess.run(
            ["unshare", "--net", "--pid", "--mount-proc", "--fork", "--kill-child", "--",
             "bash", "-c", f"ip link set lo up\n{script}"],
            env=env, capture_output=True, text=True, timeout=timeout, start_new_session=True,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
