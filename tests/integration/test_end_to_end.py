"""End to end: accounts → decisions → outcomes → features and models move → the next
decision changes. And the README's main job, `cadencia run`, on its embedded default."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import ROOT, account, cadencia_run, wait_until

MORNING = "2026-03-0{day}T08:00:00-06:00"


def test_outcomes_change_the_next_decisions(api, flow):
    ids = [f"E-{i}" for i in range(30)]
    api.put("/v1/accounts", json=[account(a) for a in ids])
    first = api.post(
        "/v1/decide", json=[{"account_id": a, "now": MORNING.format(day=2), "horizon_hours": 12} for a in ids]
    ).json()
    assert {d["action"] for d in first} == {"contact"}
    assert {d["model_version"] for d in first} == {"m-000000"}
    # every debtor answers WhatsApp at 19:00 and ignores everything else
    events = []
    for d in first:
        answered = d["channel"] == "whatsapp"
        events.append(
            {
                "event_id": f"{d['decision_id']}-1",
                "ts": d["send_at"],
                "type": "message",
                "status": "read" if answered else "failed",
                "account_id": d["account_id"],
                "decision_id": d["decision_id"],
                "channel": d["channel"],
            }
        )
        events.append(
            {
                "event_id": f"{d['account_id']}-w",
                "ts": "2026-03-02T19:05:00-06:00",
                "type": "reply",
                "text": "hola",
                "account_id": d["account_id"],
                "channel": "whatsapp",
            }
        )
    assert api.post("/v1/events", json=events).json() == {"accepted": 60, "duplicates": 0}
    wait_until(lambda: all(api.get(f"/v1/accounts/{a}").json()["state"]["events_applied"] == 2 for a in ids))
    state = api.get("/v1/accounts/E-0").json()["state"]
    assert state["features"]["hr"][19] > 0 and state["features"]["ch"]["whatsapp"][1] > 0

    def next_round():
        return api.post(
            "/v1/decide",
            json=[{"account_id": a, "now": MORNING.format(day=3), "horizon_hours": 14} for a in ids],
        ).json()

    def learned_round():
        answers = next_round()
        if answers[0]["model_version"] != "m-000000":
            return answers
        for d in answers:  # not learned yet: release and ask again
            api.post(f"/v1/decisions/{d['decision_id']}/cancel")
        return None

    second = wait_until(learned_round)
    assert all(d["action"] == "contact" for d in second)
    assert {d["model_version"] for d in second} != {"m-000000"}
    whatsapp_before = sum(d["channel"] == "whatsapp" for d in first)
    whatsapp_after = sum(d["channel"] == "whatsapp" for d in second)
    assert whatsapp_after > whatsapp_before
    evening = sum(d["send_at"].startswith("2026-03-03T1") and int(d["send_at"][11:13]) >= 17 for d in second)
    assert evening > len(ids) // 2  # the debtors' own hour (19 h) pulls the send time to the evening


@pytest.mark.slow
def test_cadencia_run_embedded_default(tmp_path):
    """`cadencia run --once`: private redis-server, demo portfolio, decisions, outcomes, report."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.process.cli",
            "run",
            "--once",
            "--port",
            "0",
            "--demo-days",
            "4",
            "--demo-accounts",
            "120",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "loaded 120 demo accounts" in out.stdout
    rows = [line.split() for line in out.stdout.splitlines() if line[:4].strip().isdigit()]
    assert len(rows) == 4
    assert rows[-1][-1] != "m-000000"  # the model learned and was picked up


@pytest.mark.slow
def test_metrics_add_up_across_api_workers(config_path, redis_url):
    """Two uvicorn workers behind one port: one scrape counts every request, whichever worker
    served it (Prometheus multiprocess mode, set up by `cadencia run`)."""
    with (
        cadencia_run(config_path, redis_url, "--workers", "2") as (url, _flow_pid),
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        client.put("/v1/accounts", json=[account(f"W-{i}") for i in range(40)])
        for i in range(40):
            r = client.post(
                "/v1/decide",
                json={"account_id": f"W-{i}", "now": "2026-03-02T09:00:00-06:00"},
                headers={"connection": "close"},
            )  # new connections spread over workers
            assert r.status_code == 200
        text = client.get("/metrics").text
    count = re.search(
        r'cadencia_decision_duration_seconds_count\{action="contact",endpoint="decide"\} (\S+)', text
    )
    assert count and float(count.group(1)) == 40.0


@pytest.mark.slow
def test_a_dead_dataflow_is_restarted_and_catches_up(config_path, redis_url):
    """SIGKILL the dataflow under `cadencia run`: the supervisor starts it again, and the
    events accepted while it was down are applied, each once."""
    with (
        cadencia_run(config_path, redis_url) as (url, flow_pid),
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        client.put("/v1/accounts", json=account())
        os.kill(flow_pid, signal.SIGKILL)
        events = [
            {
                "event_id": f"k-{i}",
                "ts": "2026-03-02T10:00:00-06:00",
                "type": "reply",
                "text": "ok",
                "account_id": "A-1001",
                "channel": "sms",
            }
            for i in range(5)
        ]
        assert client.post("/v1/events", json=events).json() == {"accepted": 5, "duplicates": 0}
        wait_until(
            lambda: client.get("/v1/accounts/A-1001").json()["state"]["events_applied"] == 5, timeout_s=40
        )
        assert client.get("/readyz").status_code == 200


@pytest.mark.slow
def test_one_reservation_across_api_processes(config_path, redis_url):
    """Two API processes, many concurrent deciders and dialers on fresh connections: one
    account never holds two reservations, and no lead is handed out twice."""
    now = "2026-03-02T10:00:00-06:00"
    with (
        cadencia_run(config_path, redis_url, "--workers", "2") as (url, _flow_pid),
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        client.put("/v1/accounts", json=[account(f"P-{i:02d}") for i in range(30)])

        def decide_once(_i):
            with httpx.Client(base_url=url, timeout=10) as own:
                return own.post("/v1/decide", json={"account_id": "P-00", "now": now}).json()["action"]

        with ThreadPoolExecutor(16) as pool:
            actions = list(pool.map(decide_once, range(48)))
        assert actions.count("contact") == 1

        client.put("/v1/campaigns/proc", json={"channel": "voice"})
        wait_until(lambda: client.get("/v1/campaigns/proc").json()["ready"] == 30)

        def pull(_i):
            with httpx.Client(base_url=url, timeout=10) as own:
                body = {"campaign": "proc", "count": 3, "now": now}
                return [lead["account_id"] for lead in own.post("/v1/dialer/next", json=body).json()["leads"]]

        with ThreadPoolExecutor(12) as pool:
            handed = [a for leads in pool.map(pull, range(24)) for a in leads]
        assert len(handed) == len(set(handed)) == 29  # P-00 holds its reservation from above
