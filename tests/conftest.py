"""Shared fixtures: real redis-server processes on free ports, a real uvicorn server per test,
and the dataflow as a real process. Nothing is mocked."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import uvicorn

from connectors.store import RedisStore
from engine.api.app import build_app
from engine.metrics import Metrics
from engine.process.redis_server import RedisServer, free_port
from engine.settings import Settings, load

ROOT = Path(__file__).resolve().parent.parent

BASE_CONFIG = """
[server]
clock = "data"  # the tests' requests and events carry their own times, in 2026

[money]
currency = "MXN"
[money.rates]
USD = 17.5
COP = 0.0043

[[carriers]]
id = "c1"
cost_per_attempt = 0.002
cost_per_minute = 0.010
cost_per_message = 0.004
[[carriers]]
id = "c2"
cost_per_attempt = 0.001
cost_per_minute = 0.020
cost_per_message = 0.006

[channels.sms]
cost = 0.020
[channels.whatsapp]
cost = 0.015
[channels.email]
cost = 0.0005
[channels.ivr]
cost_per_minute = 0.012
expected_minutes = 1.0
[channels.voice]
cost_per_minute = 0.150
expected_minutes = 3.0

[[templates]]
id = "dpd31_60_soft"
channel = "whatsapp"
days_past_due_min = 31
days_past_due_max = 60
[[templates]]
id = "dpd31_60_firm"
channel = "whatsapp"
days_past_due_min = 31
days_past_due_max = 60
[[templates]]
id = "sms_reminder"
channel = "sms"
days_past_due_min = 1
days_past_due_max = 180

[decisions]
attribution_hours = 24
# the tests of leases, rules and caps assume every account is worth a contact; what the
# learned opt-out risk costs is tested on its own (tests/unit/test_grid.py)
optout_loss = 0.0

[flow]
publish_interval_s = 0.2
epoch_interval_s = 0.5
reorder_s = 0.0  # the tests' events come in time order: learn as soon as the data says
"""


def account(account_id: str = "A-1001", **overrides: Any) -> dict[str, Any]:
    doc = {
        "account_id": account_id,
        "portfolio": "cards",
        "product": "credit_card",
        "balance": 1520.50,
        "currency": "MXN",
        "days_past_due": 45,
        "country": "MX",
        "region": "MX-JAL",
        "timezone": "America/Mexico_City",
        "attributes": {"risk_score": 612, "segment": "B"},
        "contact_points": [
            {
                "id": "m1",
                "type": "mobile",
                "address": "+5213312345678",
                "network": "telcel",
                "channels": ["voice", "ivr", "sms", "whatsapp"],
            },
            {
                "id": "h1",
                "type": "landline",
                "address": "+523336001122",
                "network": "telmex",
                "channels": ["voice"],
            },
            {"id": "e1", "type": "email", "address": "ana@example.com", "channels": ["email"]},
        ],
    }
    doc.update(overrides)
    return doc


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def config_text() -> str:
    return BASE_CONFIG


@pytest.fixture
def config_path(tmp_path: Path, config_text: str) -> Path:
    path = tmp_path / "cadencia.toml"
    path.write_text(config_text)
    return path


@pytest.fixture
def settings(config_path: Path) -> Settings:
    return load(config_path)


class LiveServer:
    """uvicorn (uvloop + httptools) serving the app in a thread, on a free port."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                loop="uvloop",
                http="httptools",
                log_level="warning",
                lifespan="on",
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()  # a fresh registry for every test


@pytest.fixture
def api(settings: Settings, redis_url: str, metrics: Metrics) -> Iterator[httpx.Client]:
    store = RedisStore.from_url(redis_url, settings.redis.shards)
    app = build_app(settings, store, metrics)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


class FlowProcess:
    """The dataflow as `cadencia run` starts it: `python -m engine.flow.main`."""

    def __init__(
        self,
        config_path: Path,
        redis_url: str,
        state_dir: Path | None = None,
        archive_dir: Path | None = None,
    ) -> None:
        self.env = dict(os.environ, CADENCIA_CONFIG=str(config_path), CADENCIA_REDIS_URL=redis_url)
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        # recovery is always on: each process gets its own store unless a test shares one
        self.state_dir = state_dir or Path(tempfile.mkdtemp(prefix="cadencia-flow-"))
        self.env["CADENCIA_FLOW_STATE_DIR"] = str(self.state_dir)
        self.archive_dir = archive_dir or Path(tempfile.mkdtemp(prefix="cadencia-archive-"))
        self.env["CADENCIA_ARCHIVE_DIR"] = str(self.archive_dir)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> FlowProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.flow.main"],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()


@pytest.fixture
def flow(config_path: Path, redis_url: str) -> Iterator[FlowProcess]:
    process = FlowProcess(config_path, redis_url).start()
    yield process
    process.stop()


def wait_until(predicate: Any, timeout_s: float = 20.0, interval_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        time.sleep(interval_s)


def cadencia_argv(config_path: Path, redis_url: str, data_dir: Path | str, *extra: str) -> list[str]:
    """`cadencia run --no-demo` on a free port, as a user types it, with its own data directory."""
    return [
        sys.executable,
        "-m",
        "engine.process.cli",
        "run",
        "--config",
        str(config_path),
        "--redis-url",
        redis_url,
        "--port",
        "0",
        "--no-demo",
        "--data-dir",
        str(data_dir),
        *extra,
    ]


@contextlib.contextmanager
def cadencia_run(config_path, redis_url, *extra):
    """`cadencia run --no-demo` as a user starts it: yields (base URL, dataflow pid), then
    stops it with Ctrl-C."""
    proc = subprocess.Popen(
        cadencia_argv(config_path, redis_url, tempfile.mkdtemp(prefix="cadencia-data-"), *extra),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # started as a non-interactive shell starts a background job (SIGINT ignored): the
        # SIGINT below must stop it all the same
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        url, flow_pid = None, None
        for line in proc.stdout:
            if m := re.search(r"dataflow pid (\d+)", line):
                flow_pid = int(m.group(1))
            if m := re.search(r"serving on (http://\S+)", line):
                url = m.group(1)
                break
        assert url and flow_pid, "cadencia run did not say where it serves"
        yield url, flow_pid
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
        proc.stdout.close()
