"""Starts everything on one machine and keeps it running: a private redis-server when none is
configured, the dataflow process (restarted if it dies), and the API workers."""

from __future__ import annotations

import http.client
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from engine.flow.main import REFUSED
from engine.process.redis_server import RedisServer, free_port

log = logging.getLogger("cadencia")


@dataclass
class Plan:
    config: str  # TOML path
    redis_url: str | None
    host: str
    port: int
    workers: int
    flow_state_dir: str | None = None
    archive_dir: str | None = None  # the timelines' archive; default: <data_dir>/archive
    data_dir: str = "cadencia-data"  # the embedded Redis's data and the dataflow's recovery store
    env: dict[str, str] = field(default_factory=dict)


def port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


class Supervisor:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.redis: RedisServer | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.flow: subprocess.Popen[bytes] | None = None
        self.metrics_dir = tempfile.TemporaryDirectory(prefix="cadencia-metrics-")
        self.redis_url = plan.redis_url
        self.stopping = False

    @property
    def base_url(self) -> str:
        return f"http://{self.plan.host}:{self.plan.port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.plan.env)
        env["CADENCIA_CONFIG"] = self.plan.config
        env["CADENCIA_REDIS_URL"] = self.redis_url or ""
        env["PROMETHEUS_MULTIPROC_DIR"] = self.metrics_dir.name
        env["CADENCIA_FLOW_STATE_DIR"] = self.plan.flow_state_dir or os.path.join(self.plan.data_dir, "flow")
        archive = self.plan.archive_dir or os.path.join(self.plan.data_dir, "archive")
        env.setdefault("CADENCIA_ARCHIVE_DIR", archive)
        return env

    def start(self) -> None:
        if not self.redis_url:
            where = os.path.join(self.plan.data_dir, "redis")
            self.redis = RedisServer(data_dir=where, persist=True).start()
            self.redis_url = self.redis.url
            log.info("started a private redis-server at %s (its data in %s)", self.redis_url, where)
        if self.plan.port == 0:
            self.plan.port = free_port()
        elif not port_free(self.plan.host, self.plan.port):
            taken = self.plan.port
            self.plan.port = free_port()
            log.warning("port %d is taken; serving on %d instead", taken, self.plan.port)
        self._start_flow()
        self.api = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "engine.api.asgi:create_app",
                "--factory",
                "--host",
                self.plan.host,
                "--port",
                str(self.plan.port),
                "--workers",
                str(self.plan.workers),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=self._env(),
        )
        self.wait_healthy()
        log.info(
            "API on %s (%d worker%s), dataflow pid %s",
            self.base_url,
            self.plan.workers,
            "s" if self.plan.workers > 1 else "",
            self.flow.pid if self.flow else "-",
        )

    def _start_flow(self) -> None:
        self.flow = subprocess.Popen([sys.executable, "-m", "engine.flow.main"], env=self._env())

    def wait_healthy(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.api is not None and self.api.poll() is not None:
                raise RuntimeError(f"the API exited with code {self.api.returncode} at start")
            try:
                conn = http.client.HTTPConnection(self.plan.host, self.plan.port, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the API did not answer on {self.base_url} within {timeout_s}s")

    def watch(self) -> int:
        """Block until SIGINT/SIGTERM, restarting the dataflow if it dies; the exit code."""
        signal.signal(signal.SIGTERM, lambda *_: self._request_stop())
        backoff = 1.0
        try:
            while not self.stopping:
                time.sleep(0.5)
                if self.api is not None and self.api.poll() is not None:
                    code = self.api.returncode
                    (log.info if code == 0 else log.error)("the API exited with code %s; stopping", code)
                    return code
                if self.flow is not None and self.flow.poll() == REFUSED:
                    log.error("the dataflow refused to start (see above); stopping")
                    return REFUSED
                if self.flow is not None and self.flow.poll() is not None:
                    log.error(
                        "the dataflow exited with code %s; restarting in %.0fs", self.flow.returncode, backoff
                    )
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    self._start_flow()
        except KeyboardInterrupt:
            pass
        return 0

    def _request_stop(self) -> None:
        self.stopping = True

    def stop(self) -> None:
        for proc in (self.api, self.flow):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (self.api, self.flow):
            if proc is not None:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.redis is not None:
            self.redis.stop()
        self.metrics_dir.cleanup()
