"""Child processes for the benchmark: redis-server, uvicorn apps, the dataflow. Each is
pinned with taskset when a core is given (and run at a real-time priority when its
`Placement` says so), logs to a file, and is stopped by `stop()` (the runner calls it in
`finally`); nothing here outlives the run."""

from __future__ import annotations

import contextlib
import http.client
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from engine.process.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
UVICORN_FLAGS = ("--host", "127.0.0.1", "--loop", "uvloop", "--http", "httptools",
                 "--no-access-log", "--log-level", "warning")


class Placement(list[int]):
    """The cores a process is pinned to (empty: any) and, when `fifo` is set, the SCHED_FIFO
    priority it runs at. A list, so it goes wherever a list of cores goes."""

    def __init__(self, cores: Iterable[int] = (), fifo: int | None = None) -> None:
        super().__init__(cores)
        self.fifo = fifo

    def __repr__(self) -> str:
        return f"{list(self) or 'any'}" + (f" at SCHED_FIFO {self.fifo}" if self.fifo else "")


def can_run_realtime() -> bool:
    """Whether this user may start processes at SCHED_FIFO (root or CAP_SYS_NICE)."""
    return subprocess.run(["chrt", "--fifo", "1", "true"], stderr=subprocess.DEVNULL).returncode == 0


def cpuset(cores: Sequence[int] | None) -> str | None:
    return ",".join(str(c) for c in cores) if cores else None


def placed(argv: list[str], cores: Sequence[int] | None) -> list[str]:
    """`argv` started on `cores` (taskset) at the placement's real-time priority (chrt)."""
    prefix = ["taskset", "-c", cpuset(cores) or ""] if cores else []
    fifo = getattr(cores, "fifo", None)
    if fifo:
        prefix += ["chrt", "--fifo", str(fifo)]
    return [*prefix, *argv]


def place_running(pid: int, cores: Sequence[int] | None) -> None:
    """Pin every thread of a running process (redis-server starts its own threads) and give
    them the placement's real-time priority."""
    if cores:
        subprocess.run(["taskset", "-a", "-pc", cpuset(cores) or "", str(pid)], check=True,
                       stdout=subprocess.DEVNULL)
    fifo = getattr(cores, "fifo", None)
    if fifo:
        subprocess.run(["chrt", "--all-tasks", "--fifo", "--pid", str(fifo), str(pid)], check=True)


class Child:
    """One child process, optionally pinned, stdout and stderr to `log`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path,
                 cores: Sequence[int] | None = None, cwd: Path = ROOT) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._log = self.log.open("ab")
        self.proc = subprocess.Popen(placed(argv, cores), env=env, cwd=cwd, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 8.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def http_get(port: int, path: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def http_send(port: int, method: str, path: str, body: bytes, content_type: str = "application/json",
              timeout_s: float = 60.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": content_type})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_http(child: Child, port: int, path: str = "/healthz", timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited at start:\n{child.tail()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _ = http_get(port, path, timeout_s=1.0)
            if status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not answer {path} on port {port} in {timeout_s}s:\n{child.tail()}")


_TICK = os.sysconf("SC_CLK_TCK")


def _machine_busy_s() -> float:
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICK


def process_cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime, every thread


def _own_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # load tools already waited for
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Usage:
    """Where the CPU went over an interval: each process of the stack, the runner with the
    load tools it ran (`load`), and everything else on the machine (`other`: the machine is
    shared, and this says how much a figure was disturbed)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float, dict[str, float]]:
        procs = {name: process_cpu_s(pid) for name, pid in self.stack.named_pids().items()}
        return time.monotonic(), _machine_busy_s(), _own_cpu_s(), procs

    def stop(self) -> dict[str, Any]:
        t1, busy1, own1, procs1 = self._sample()
        t0, busy0, own0, procs0 = self.start
        cpu = {name: procs1[name] - procs0.get(name, 0.0) for name in procs1}
        load = own1 - own0
        other = max(0.0, (busy1 - busy0) - load - sum(cpu.values()))
        elapsed = max(t1 - t0, 1e-3)
        return {"elapsed_s": round(elapsed, 3), "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
                "cores": {k: round(v / elapsed, 2) for k, v in {**cpu, "load": load, "other": other}.items()}}


def base_env(src: Path = ROOT) -> dict[str, str]:
    """The children's environment; `src` first on the path, ahead of the editable install."""
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["PYTHONPATH"] = str(src)
    return env


def engine_source(ref: str | None, dest: Path) -> tuple[Path, str]:
    """Where the engine's code comes from: the work tree as it is (None), or a commit
    exported with `git archive` (the repository itself is not touched). Returns the source
    directory and a description with the commit."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    if ref is None:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "engine", "connectors", "features", "models", "policy")
        return ROOT, f"work tree at {head}" + (" with uncommitted changes" if dirty else "")
    commit = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest, f"commit {commit[:12]} ({ref})"


class Stack:
    """Every process of one benchmark run; `stop()` ends them all, newest first."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.redis: list[RedisServer] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="cadencia-bench-"))
        self.logs = self.tmp / "logs"
        self.logs.mkdir()

    def named_pids(self) -> dict[str, int]:
        out = {c.name: c.pid for c in self.children}
        for i, r in enumerate(self.redis):
            if r.proc is not None:
                out["redis" if i == 0 else f"redis{i}"] = r.proc.pid
        return out

    def start_redis(self, cores: Sequence[int] | None) -> RedisServer:
        srv = RedisServer()
        self.redis.append(srv)
        srv.start()
        assert srv.proc is not None
        place_running(srv.proc.pid, cores)
        return srv

    def start_uvicorn(self, name: str, app: str, env: dict[str, str], cores: Sequence[int] | None,
                      factory: bool = False, health: str = "/healthz", cwd: Path = ROOT) -> int:
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", app, "--port", str(port), *UVICORN_FLAGS]
        if factory:
            argv.append("--factory")
        child = Child(name, argv, env, self.logs, cores, cwd)
        self.children.append(child)
        wait_http(child, port, health)
        return port

    def start(self, name: str, argv: list[str], env: dict[str, str], cores: Sequence[int] | None,
              cwd: Path = ROOT) -> Child:
        child = Child(name, argv, env, self.logs, cores, cwd)
        self.children.append(child)
        return child

    def stop_child(self, child: Child) -> None:
        child.stop()
        if child in self.children:
            self.children.remove(child)

    def stop(self) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop()
        self.children.clear()
        for srv in reversed(self.redis):
            with contextlib.suppress(Exception):
                srv.stop()
        self.redis.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def keep_logs(self, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for f in self.logs.glob("*.log"):
            shutil.copy(f, dest / f.name)


@contextlib.contextmanager
def stack() -> Iterator[Stack]:
    s = Stack()
    try:
        yield s
    finally:
        s.stop()
