"""cadencia, through its HTTP contract only, as a planner and a gateway use it: the portfolio
uploaded each morning, one batch of decisions for the day, outcomes posted as events in time
order. A message queued for later is checked with the engine before it goes out when something
binding (promise, payment, opt-out, dispute) arrived for its account since the plan: the engine
releases the reservation then, and a released decision is not sent."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from benchmarks.sim.contact import Contact
from benchmarks.sim.engine_proc import Http
from benchmarks.sim.policies.base import Policy

CHUNK_DECIDE = 100
CHUNK_EVENTS = 500
CHUNK_ACCOUNTS = 1000


class Cadencia(Policy):
    name = "cadencia"

    def __init__(self, base_url: str, horizon_hours: int = 20, settle_s: float = 0.7) -> None:
        self.http = Http(base_url)
        self.horizon = horizon_hours
        self.settle_s = settle_s
        self.latencies: list[tuple[float, int]] = []  # (seconds, decisions in the request)
        self.answers: dict[str, int] = {}
        self.checks = 0

    def morning(self, day: int, now: datetime, docs: list[dict[str, Any]]) -> list[Contact]:
        for i in range(0, len(docs), CHUNK_ACCOUNTS):
            self.http.call("PUT", "/v1/accounts", docs[i : i + CHUNK_ACCOUNTS])
        live = [d["account_id"] for d in docs if d["balance"] > 0]
        out = []
        for i in range(0, len(live), CHUNK_DECIDE):
            body = [
                {"account_id": a, "now": now.isoformat(), "horizon_hours": self.horizon}
                for a in live[i : i + CHUNK_DECIDE]
            ]
            answers = self.http.call("POST", "/v1/decide", body)
            self.latencies.append((self.http.last_s, len(body)))
            for a in answers:
                key = a["action"] if a["action"] == "contact" else "wait:" + ",".join(a["reasons"])
                self.answers[key] = self.answers.get(key, 0) + 1
                if a["action"] != "contact":
                    continue
                out.append(
                    Contact(
                        a["account_id"],
                        a["channel"],
                        a["contact_point_id"],
                        datetime.fromisoformat(a["send_at"]),
                        a.get("template"),
                        a.get("carrier"),
                        a["decision_id"],
                        reminder="promise_reminder" in a.get("reasons", ()),
                    )
                )
        return out

    def confirm(self, c: Contact, now: datetime, unposted: list[dict[str, Any]], touched: bool) -> bool:
        if not touched:
            return True
        if unposted:
            self.observe([{k: v for k, v in e.items() if not k.startswith("_")} for e in unposted])
            unposted.clear()
        self.checks += 1
        lock = self.http.call("GET", f"/v1/accounts/{c.account_id}")["state"]["lock"]
        return lock is not None and lock["decision_id"] == c.decision_id

    def observe(self, events: list[dict[str, Any]]) -> None:
        for i in range(0, len(events), CHUNK_EVENTS):
            self.http.call("POST", "/v1/events", events[i : i + CHUNK_EVENTS], ndjson=True)

    def end_day(self, day: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = self.http.call("GET", "/readyz")
            if ready.get("flow_lag_s", 1.0) == 0.0:
                break
            time.sleep(0.1)
        time.sleep(self.settle_s)  # the dataflow publishes a changed model every publish_interval_s

    def extra(self) -> dict[str, Any]:
        return {"latencies": self.latencies, "answers": self.answers, "lock_checks": self.checks}

    def close(self) -> None:
        self.http.close()
