"""The dashboard and the rules against a real Prometheus scraping a running engine: every panel's
query is valid PromQL and returns series, and every rule evaluates without error."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from engine.process.redis_server import free_port
from tests.conftest import ROOT, account, cadencia_run, wait_until

RULES = ROOT / "ops" / "prometheus" / "cadencia-rules.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "cadencia.json"
# panels that stay empty on a healthy engine without redis_exporter: no breaker is open, and
# the Redis row reads the exporter's series
MAY_BE_EMPTY = ("Breakers open",)


def start_prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian: apt-get install prometheus; CI installs it)")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [{"job_name": "cadencia", "static_configs": [{"targets": [target]}]}],
            }
        )
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _get(f"{url}/-/ready") == 200, timeout_s=30)
    return proc, url


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def query(prometheus: str, expr: str) -> list[dict]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]


def drive(url: str, seconds: float) -> None:
    """Decisions, dialer pulls, routes and events (one of them refused) for `seconds`."""
    with httpx.Client(base_url=url, timeout=10) as client:
        _drive(client, seconds)


def _drive(client: httpx.Client, seconds: float) -> None:
    ids = [f"P-{i}" for i in range(40)]
    assert client.put("/v1/accounts", json=[account(a) for a in ids]).status_code == 200
    deadline, day = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        day += 1
        now = f"2026-03-{1 + day % 27:02d}T09:00:00-06:00"
        answers = client.post("/v1/decide", json=[{"account_id": a, "now": now} for a in ids]).json()
        for a in ids[:5]:
            client.post("/v1/decide", json={"account_id": a, "now": now, "channels": ["sms"]})
        client.post("/v1/route", json={"address": "+5215512345678", "now": now})
        events = [
            {
                "event_id": f"{d['decision_id']}-r",
                "ts": now,
                "type": "message",
                "status": "delivered",
                "account_id": d["account_id"],
                "decision_id": d["decision_id"],
                "channel": d["channel"],
            }
            for d in answers
            if d["action"] == "contact" and d["channel"] not in ("voice", "ivr")
        ]
        events.append({"event_id": "bad", "type": "message"})  # refused: counted by reason
        client.post("/v1/events", json=events)
        time.sleep(0.2)


@pytest.mark.slow
def test_dashboard_and_rules_on_a_real_prometheus(tmp_path, config_path, redis_url):
    with cadencia_run(config_path, redis_url) as (url, _flow_pid):
        prom, prometheus = start_prometheus(tmp_path, url.removeprefix("http://"))
        try:
            drive(url, seconds=8)
            wait_until(lambda: query(prometheus, "cadencia:decide_slow:ratio_rate5m"), timeout_s=30)
            time.sleep(2)  # the last requests scraped
            panels = json.loads(DASHBOARD.read_text())["panels"]
            for panel in panels:
                for target in panel.get("targets", []):
                    expr = target["expr"].replace("$__rate_interval", "30s")
                    result = query(prometheus, expr)
                    if "redis_" not in expr and panel["title"] not in MAY_BE_EMPTY:
                        assert result, f"{panel['title']}: {expr} has no series"
            groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            assert len(rules) == RULES.read_text().count("- record:") + RULES.read_text().count("- alert:")
            assert all(rule["health"] == "ok" for rule in rules), [r for r in rules if r["health"] != "ok"]
            # the engine's own series feed the SLIs (labels and bucket bounds as the rules expect)
            assert query(prometheus, "cadencia:unavailable:ratio_rate5m")
            assert query(prometheus, "min(cadencia_ready) == 1"), "the engine never reported ready"
        finally:
            prom.terminate()
            prom.wait(10)
