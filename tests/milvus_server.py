"""A Milvus 2.3 standalone server (PyPI `milvus==2.3.5`, its `milvus-server` script, in the test extra) for tests
and benchmarks, reachable on 127.0.0.1 only.

    with MilvusServer(tmp_path) as server:        # server.uri: "http://127.0.0.1:PORT"
        server.kill(); server.start()             # an outage: same data folder, same uri
    python tests/milvus_server.py [--data DIR] [--port P] &  # as a program: prints {"uri", "milvus_pid", ...} and
                                                              # runs until SIGTERM or Ctrl-C (bench/ starts it so)

Milvus 2.3.5 has no listen-address setting: every component's gRPC server and the metrics/healthz
HTTP server listen on ":PORT" (all interfaces, IPv4 and IPv6); the `<component>.ip` keys only set
the address it advertises. So the server runs in its own network namespace (only `lo`: nothing
outside it can connect) and its own PID namespace with its own /proc (when its init dies, the
kernel kills the rest; without --mount-proc Milvus reads the host's /proc/<its pid> and loading a
collection fails with "get memory failed when checkSegmentSize"). A forwarder thread in this
process listens on 127.0.0.1:PORT (a free port, or the one given, kept across restarts) and relays
each connection to the proxy's 19530 inside the namespace. Inside, the default ports are always
free, so servers never collide. Needs root (CAP_SYS_ADMIN): `unshare` (util-linux), `ip` (iproute2).

Start: ~3.5 s with the binaries cached (+3-6 s the first time, to unpack them); a restart on old
data ~7-12 s, then the collections stay "not loaded" until the old session expires
(common.session.ttl, 10 s here): start() waits for that too. Stop: SIGTERM to the milvus process
(gracefully in 0.1 s when idle; with collections loaded the query node waits for a hand-over that
never comes, so Milvus force-quits after common.gracefulStopTimeout, 3 s here), SIGKILL to what is
left after `stop_timeout`; the process group is checked empty. If this process dies (even by
SIGKILL), PR_SET_PDEATHSIG on `unshare` and `unshare --kill-child` take the whole tree down
(PDEATHSIG fires when the *thread* that started the server ends: start and restart it from the
main thread, as pytest fixtures do).
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

VERSION = "2.3.5"
PROXY_PORT = 19530  # inside the namespace
METRICS_PORT = 9091  # inside the namespace: GET /healthz answers "OK" once every component is up
_COMPONENTS = ("proxy", "rootCoord", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")
_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def server_bin() -> str:
    """The `milvus-server` script: $MILVUS_SERVER_BIN, else this Python's (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "milvus-server"
    return os.environ.get("MILVUS_SERVER_BIN") or (str(beside) if beside.exists() else shutil.which("milvus-server")
                                                   or str(beside))


def unavailable() -> str | None:
    """Why a server cannot be started here (None: it can): the script, root, unshare and ip are needed."""
    if not Path(server_bin()).is_file():
        return f"no milvus-server at {server_bin()} (pip install -e '.[test]' brings milvus==2.3.5)"
    if os.geteuid() != 0:
        return "starting Milvus in its own network namespace needs root"
    missing = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not found (util-linux, iproute2)" if missing else None


def _die_with_parent():  # preexec_fn: SIGKILL when the thread that started us ends
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def _in_netns(fd: int, fn, *args):
    """fn(*args) on a thread moved into the network namespace `fd` (sockets it creates stay there)."""
    box = {}

    def run():
        try:
            _setns(fd)
            box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _healthz() -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", METRICS_PORT, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return "OK" in conn.getresponse().read().decode(errors="replace")
    except OSError:
        return False
    finally:
        conn.close()


def _group(pgid: int) -> dict[int, tuple[str, str]]:
    """{pid: (comm, state)} of the live processes in process group `pgid` (zombies left out)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            found[int(entry.name)] = (comm, state)
    return found


def _prepare_bin(data_dir: Path, script: str) -> None:
    """The server binaries, unpacked once into a cache (3-6 s, 250 MB) and symlinked into data_dir/bin.

    `milvus-server` unpacks its .lzma files into DATA/bin unless a matching .lzma.md5 is there.
    """
    cache = Path(os.environ.get("MILVUS_SERVER_CACHE", Path.home() / ".cache" / f"milvus-server-{VERSION}"))
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel pytest workers
        if not (cache / "bin" / "milvus.lzma.md5").exists():
            python = Path(script).read_text(errors="replace").splitlines()[0].removeprefix("#!").strip()
            subprocess.run([python, "-c", "import sys, milvus; milvus._initialize_data_files(sys.argv[1])",
                            str(cache)], check=True, timeout=600)
    (data_dir / "bin").mkdir(parents=True, exist_ok=True)
    for f in (cache / "bin").iterdir():
        with contextlib.suppress(FileExistsError):
            (data_dir / "bin" / f.name).symlink_to(f)


class _Forwarder:
    """127.0.0.1:port in this namespace -> 127.0.0.1:PROXY_PORT in the server's."""

    def __init__(self, listener: socket.socket, netns_fd: int):
        self.listener, self.netns_fd = listener, netns_fd
        self.conns: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True, name="milvus-forwarder")
        self.thread.start()

    def _serve(self):
        _setns(self.netns_fd)  # this thread's upstream sockets are made inside the server's namespace
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", PROXY_PORT), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()  # like a refused connection, a moment later
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conns |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket):
        try:
            while data := src.recv(1 << 16):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self.lock:
                self.conns.discard(src)
            src.close()

    def close(self):
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        self.listener.close()
        with self.lock:
            for s in list(self.conns):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout=5)


class MilvusServer:
    """One server on `data_dir` (kept across stop/start), reachable at `uri` = http://127.0.0.1:port."""

    def __init__(self, data_dir, port: int = 0, script: str | None = None, start_timeout: float = 180,
                 stop_timeout: float = 20, graceful_stop: int = 3, session_ttl: int = 10):
        self.data_dir = Path(data_dir).resolve()
        self.port, self.script = port, script or server_bin()
        self.start_timeout, self.stop_timeout, self.graceful_stop = start_timeout, stop_timeout, graceful_stop
        self.session_ttl = session_ttl
        self.proc: subprocess.Popen | None = None
        self._netns_fd: int | None = None
        self._forwarder: _Forwarder | None = None
        self._log = None
        self.startup_seconds: float | None = None
        self.stop_seconds: float | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> MilvusServer:
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self) -> None:
        if self.proc is not None:
            raise RuntimeError("already running")
        if not Path(self.script).is_file():
            raise FileNotFoundError(f"No milvus-server at {self.script}: `pip install milvus==2.3.5` (no dependencies) "
                                    "into this venv, or set MILVUS_SERVER_BIN")
        t0 = time.monotonic()
        # Bound first, so the port is ours (and stays the same across restarts); accepts wait in the backlog.
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self.port = listener.getsockname()[1]
            _prepare_bin(self.data_dir, self.script)
            extra = [f"--extra-config={c}.ip=127.0.0.1" for c in _COMPONENTS]  # advertised addresses
            # Milvus force-quits after this many seconds of graceful stop (default 1800: with collections
            # loaded, the query node waits to hand its segments over to another query node that never comes).
            extra.append(f"--extra-config=common.gracefulStopTimeout={self.graceful_stop}")
            # After a restart the collections stay "not loaded" until the old query node's etcd session
            # expires (this TTL, default 30 s).
            extra.append(f"--extra-config=common.session.ttl={self.session_ttl}")
            self._log = open(self.data_dir / "milvus-server.out", "ab")  # noqa: SIM115 - closed by stop()
            self.proc = subprocess.Popen(
                ["unshare", "--net", "--pid", "--mount-proc", "--fork", "--kill-child", "--",
                 "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                 self.script, "--data", str(self.data_dir), "--proxy-port", str(PROXY_PORT), *extra],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent, cwd=self.data_dir,  # noqa: PLW1509
            )
            atexit.register(self.stop)
            self._netns_fd = self._open_netns()
            self._wait_healthy(t0 + self.start_timeout)
            self._forwarder = _Forwarder(listener, self._netns_fd)
            listener = None
            self._wait_grpc(t0 + self.start_timeout)
            self.startup_seconds = time.monotonic() - t0
        except BaseException:
            if listener is not None:
                listener.close()
            self.stop(graceful=False)
            raise

    def _open_netns(self) -> int:
        """The new network namespace, once `unshare` has entered it (its own differs from ours)."""
        deadline = time.monotonic() + 10
        ours = os.stat("/proc/self/ns/net").st_ino
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"unshare exited with {self.proc.returncode}: {self._tail()}")
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{self.proc.pid}/ns/net").st_ino != ours:
                    return os.open(f"/proc/{self.proc.pid}/ns/net", os.O_RDONLY)
            time.sleep(0.02)
        raise TimeoutError("unshare did not enter a new network namespace")

    def _wait_healthy(self, deadline: float) -> None:
        seen_milvus = False
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"milvus-server exited with {self.proc.returncode}: {self._tail()}")
            alive = any(comm == "milvus" for comm, _ in _group(self.proc.pid).values())
            if seen_milvus and not alive:  # the wrapper does not notice its server's death: we must
                raise RuntimeError(f"the milvus process died while starting: {self._tail()}")
            seen_milvus |= alive
            if alive and _in_netns(self._netns_fd, _healthz):
                return
            time.sleep(0.25)
        raise TimeoutError(f"Milvus not healthy in {self.start_timeout} s: {self._tail()}")

    def _wait_grpc(self, deadline: float) -> None:
        """pymilvus's list_collections through the forwarder answers, and (on a restart) no collection is still
        "Loading" (they answer "collection not loaded" until then), when pymilvus is importable here."""
        try:
            from pymilvus import MilvusClient
        except ImportError:
            return
        while True:
            try:
                client = MilvusClient(self.uri, timeout=10)
                try:
                    if not any(str(client.get_load_state(name)["state"]) == "Loading"
                               for name in client.list_collections()):
                        return
                finally:
                    client.close()
            except Exception:
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"Milvus collections still loading after {self.start_timeout} s")
            time.sleep(0.25)

    def _tail(self, n: int = 3000) -> str:
        logs = [self.data_dir / "milvus-server.out", self.data_dir / "logs" / "milvus-stderr.log",
                self.data_dir / "logs" / "milvus-stdout.log"]
        return " | ".join(f"{p.name}: ...{p.read_text(errors='replace')[-n:]}" for p in logs if p.exists())

    def milvus_pid(self) -> int | None:
        if self.proc is None:
            return None
        return next((pid for pid, (comm, _) in _group(self.proc.pid).items() if comm == "milvus"), None)

    def rss(self) -> dict[str, int]:
        """Resident memory in bytes: `milvus` (the server process: RSS and PSS) and `tree` (RSS of the whole
        process group: unshare + the milvus-server Python wrapper + milvus)."""
        out = {"milvus_rss": 0, "milvus_pss": 0, "tree_rss": 0}
        if self.proc is None:
            return out
        for pid, (comm, _) in _group(self.proc.pid).items():
            with contextlib.suppress(OSError):
                lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]  # [0]: the address range
                rollup = dict(line.split(":", 1) for line in lines)
                rss = int(rollup["Rss"].split()[0]) * 1024
                out["tree_rss"] += rss
                if comm == "milvus":
                    out["milvus_rss"] = rss
                    out["milvus_pss"] = int(rollup["Pss"].split()[0]) * 1024
        return out

    def kill(self) -> None:
        """An abrupt outage: SIGKILL the whole tree (the uri then refuses connections until start())."""
        self.stop(graceful=False)

    def stop(self, graceful: bool = True) -> None:
        """SIGTERM milvus, wait, SIGKILL whatever is left; the process group must end empty."""
        atexit.unregister(self.stop)
        t0 = time.monotonic()
        if self._forwarder is not None:
            self._forwarder.close()
            self._forwarder = None
        proc, self.proc = self.proc, None
        if proc is not None:
            pgid = proc.pid
            try:
                if graceful:
                    # Only milvus itself: the wrapper is the namespace's init and ignores SIGTERM, and a
                    # signal to unshare would SIGKILL the tree (--kill-child) before milvus has shut down.
                    for pid, (comm, _) in _group(pgid).items():
                        if comm == "milvus":
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(pid, signal.SIGTERM)
                    deadline = time.monotonic() + self.stop_timeout
                    while time.monotonic() < deadline and any(c == "milvus" for c, _ in _group(pgid).values()):
                        time.sleep(0.1)
            finally:
                # The namespace's processes first, so that unshare reaps them (no zombies), then unshare.
                for pid in _group(pgid):
                    if pid != pgid:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pgid, signal.SIGKILL)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=10)
                deadline = time.monotonic() + 10
                while _group(pgid) and time.monotonic() < deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pgid, signal.SIGKILL)
                    time.sleep(0.1)
                left = _group(pgid)
                if left:
                    raise RuntimeError(f"processes left in group {pgid}: {left}")
        if self._netns_fd is not None:
            os.close(self._netns_fd)
            self._netns_fd = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self.stop_seconds = time.monotonic() - t0


def main() -> None:
    """Run one server until SIGTERM or SIGINT; its uri and milvus pid first, as one JSON line."""
    import argparse
    import json
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="data folder (default: a temporary one, removed afterwards)")
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # SystemExit: the server is stopped on the way out
    with tempfile.TemporaryDirectory() as tmp, MilvusServer(args.data or tmp, port=args.port) as server:
        print(json.dumps({"uri": server.uri, "milvus_pid": server.milvus_pid(),
                          "startup_seconds": round(server.startup_seconds, 1)}), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                signal.pause()


if __name__ == "__main__":
    main()
