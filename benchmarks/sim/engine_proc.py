"""`cadencia run` as an operation starts it (its own private redis-server), and a small HTTP
client that keeps one connection open and times every call."""

from __future__ import annotations

import contextlib
import http.client
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def cadencia_run(config: Path, redis_url: str | None = None, timeout_s: float = 60.0) -> Iterator[str]:
    """Start `cadencia run --config ... --no-demo` on a free port, with a data directory of
    its own (a run must never resume another's Redis or recovery store); yield its base URL."""
    data_dir = tempfile.mkdtemp(prefix="cadencia-sim-")
    argv = [sys.executable, "-m", "engine.process.cli", "run", "--config", str(config), "--port", "0"]
    argv += ["--no-demo", "--data-dir", data_dir]
    if redis_url:
        argv += ["--redis-url", redis_url]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + timeout_s
        url = None
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if m := re.search(r"serving on (http://\S+)", line):
                url = m.group(1)
                break
            if time.monotonic() > deadline:
                break
        if url is None:
            raise RuntimeError("cadencia run did not start:\n" + "".join(lines[-30:]))
        # the engine's log, for when a run goes wrong (its path is printed with the URL)
        log_path = Path(tempfile.gettempdir()) / f"cadencia-sim-{proc.pid}.log"  # kept after the run
        with log_path.open("w") as log:
            log.writelines(lines)
            drain = subprocess.Popen(["cat"], stdin=proc.stdout, stdout=log)
        try:
            yield url
        finally:
            # SIGTERM, not SIGINT: a process started in the background by a non-interactive
            # shell inherits SIGINT ignored, and `cadencia run` would never hear it
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            drain.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        shutil.rmtree(data_dir, ignore_errors=True)


class Http:
    def __init__(self, base_url: str, timeout_s: float = 120.0) -> None:
        u = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout_s)
        self.last_s = 0.0

    def call(
        self, method: str, path: str, body: Any = None, ndjson: bool = False, allow: tuple[int, ...] = ()
    ) -> Any:
        """The answer's JSON; an error status raises unless it is in `allow` (its error body
        is returned then)."""
        if ndjson:
            data: bytes | None = b"\n".join(orjson.dumps(x) for x in body)
            headers = {"Content-Type": "application/x-ndjson"}
        else:
            data = None if body is None else orjson.dumps(body)
            headers = {"Content-Type": "application/json"}
        began = time.perf_counter()
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        self.last_s = time.perf_counter() - began
        if resp.status >= 400 and resp.status not in allow and not (path == "/readyz" and resp.status == 503):
            raise RuntimeError(f"{method} {path}: {resp.status} {payload[:500]!r}")
        return orjson.loads(payload) if payload else None

    def close(self) -> None:
        self.conn.close()
