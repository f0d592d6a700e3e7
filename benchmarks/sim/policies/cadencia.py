"""cadencia, through its HTTP contract only, as a planner, a dialer and a gateway use it: the
portfolio uploaded each morning, one batch of digital (and voice-bot) decisions for the day, a
dialer pulling agent-call leads from a campaign every step of the clock (`POST /v1/dialer/next`,
then `POST /v1/route` for each call, at the same number of calls a day as the static schedule),
outcomes posted as events in time order. Every contact is confirmed with the engine just
before it goes out (`POST /v1/decisions/{id}/confirm`, what happened until then posted first):
a decision revoked since the plan (a promise, payment, opt-out, dispute, direct contact) is
not sent."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from benchmarks.sim.contact import Contact
from benchmarks.sim.engine_proc import Http
from benchmarks.sim.policies.base import Policy

CHUNK_DECIDE = 100
CHUNK_EVENTS = 500
CHUNK_ACCOUNTS = 1000
CAMPAIGN = "sim-calls"
SHIFT_UTC = (13, 25)  # the call centre's hours, UTC: 07:00-19:00 in Mexico City, later further east


class Cadencia(Policy):
    name = "cadencia"

    def __init__(
        self,
        base_url: str,
        horizon_hours: int = 20,
        calls_per_day: int = 0,
        step_minutes: int = 10,
    ) -> None:
        self.http = Http(base_url)
        self.horizon = horizon_hours
        self._through: datetime | None = None  # the last time POSTed to /v1/clock
        self._posted: datetime | None = None  # every outcome before this is posted
        self._probes: set[str | None] = set()  # decisions routed as a probe through an open breaker
        self.dialer = calls_per_day > 0
        steps = (SHIFT_UTC[1] - SHIFT_UTC[0]) * 60 // step_minutes
        self.per_step = -(-calls_per_day // steps) if self.dialer else 0
        self.campaign_ready = False
        self.routes = {"routed": 0, "revoked": 0, "no_carrier": 0, "probes": 0}
        self.dialer_latencies: list[float] = []
        self.latencies: list[tuple[float, int]] = []  # (seconds, decisions in the request)
        self.answers: dict[str, int] = {}
        self.checks = 0  # confirms asked
        self.revoked: dict[str, int] = {}  # confirms answered 409, by what revoked the decision

    def morning(self, day: int, now: datetime, docs: list[dict[str, Any]]) -> list[Contact]:
        for i in range(0, len(docs), CHUNK_ACCOUNTS):
            self.http.call("PUT", "/v1/accounts", docs[i : i + CHUNK_ACCOUNTS])
        if self.dialer and not self.campaign_ready:
            self._start_campaign(len(docs))
        live = [d["account_id"] for d in docs if d["balance"] > 0]
        channels = ["sms", "whatsapp", "email", "ivr"] if self.dialer else None
        out = []
        for i in range(0, len(live), CHUNK_DECIDE):
            body = [
                {"account_id": a, "now": now.isoformat(), "horizon_hours": self.horizon}
                | ({"channels": channels} if channels else {})
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
                        address=a.get("address"),
                    )
                )
        return out

    def _start_campaign(self, accounts: int) -> None:
        self.http.call("PUT", f"/v1/campaigns/{CAMPAIGN}", {"channel": "voice"})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            body = self.http.call("GET", f"/v1/campaigns/{CAMPAIGN}")
            if (body.get("enrolment") or {}).get("done"):
                break
            time.sleep(0.1)
        self.campaign_ready = True

    def _route(self, c: Contact, now: datetime, unposted: list[dict[str, Any]]) -> bool:
        """Route a planned call at the moment it is placed: the carrier the engine chooses now
        (breakers, rate limits), or no call when the reservation was revoked in the meantime."""
        if unposted:  # the engine must know what happened before this call
            # a carrier failure, or the outcome of a probe, may open or close a breaker: the
            # engine publishes that at once, and in real time it reaches every API process in
            # about a second; here the next call is milliseconds away, so wait for it (the run
            # stays a function of the data)
            breaker_news = any(
                (e.get("sip_code") or 0) >= 500 or e.get("decision_id") in self._probes for e in unposted
            )
            self.observe([{k: v for k, v in e.items() if not k.startswith("_")} for e in unposted])
            unposted.clear()
            if breaker_news:
                self.caught_up(now)
        route = self.http.call(
            "POST",
            "/v1/route",
            {
                "decision_id": c.decision_id,
                "address": c.address,
                "channel": c.channel,
                "now": now.isoformat(),
            },
            allow=(409,),
        )
        if "error" in route:
            self.routes["revoked"] += 1
            return False
        if route["carrier"] is None:
            self.routes["no_carrier"] += 1
            self.http.call("POST", f"/v1/decisions/{c.decision_id}/cancel")
            return False
        self.routes["routed"] += 1
        if any(r.startswith("probe=") for r in route["reasons"]):
            self.routes["probes"] += 1
            self._probes.add(c.decision_id)
        c.carrier = route["carrier"]
        return True

    def step(self, now: datetime, end: datetime) -> list[Contact]:
        """The dialer: this step's leads, each routed just before it is dialled."""
        self._posted = end  # the driver posts this step's outcomes before the next step
        if not self.dialer or not SHIFT_UTC[0] <= _utc_hour(now) < SHIFT_UTC[1]:
            return []
        self.caught_up(now)
        started = time.perf_counter()
        leads = self.http.call(
            "POST", "/v1/dialer/next", {"campaign": CAMPAIGN, "count": self.per_step, "now": now.isoformat()}
        )["leads"]
        self.dialer_latencies.append(time.perf_counter() - started)
        out = []
        gap = (end - now) / max(1, len(leads))
        for i, lead in enumerate(leads):
            at = now + gap * i
            route = self.http.call(
                "POST",
                "/v1/route",
                {"decision_id": lead["decision_id"], "address": lead["address"], "now": at.isoformat()},
                allow=(409,),
            )
            if "error" in route:
                self.routes["revoked"] += 1
                continue
            if route["carrier"] is None:
                self.routes["no_carrier"] += 1
                self.http.call("POST", f"/v1/decisions/{lead['decision_id']}/cancel")
                continue
            self.routes["routed"] += 1
            if any(r.startswith("probe=") for r in route["reasons"]):
                self.routes["probes"] += 1
                self._probes.add(lead["decision_id"])
            out.append(
                Contact(
                    lead["account_id"],
                    "voice",
                    lead["contact_point_id"],
                    at,
                    None,
                    route["carrier"],
                    lead["decision_id"],
                )
            )
        return out

    def confirm(self, c: Contact, now: datetime, unposted: list[dict[str, Any]], touched: bool) -> bool:
        """The gateway's last word before it sends: what happened so far is posted, then
        `POST /v1/decisions/{id}/confirm` (409: a promise, payment, opt-out, dispute or direct
        contact revoked it, or it was cancelled or expired). A voice-bot call is routed first."""
        if c.channel == "ivr" and c.address and not self._route(c, now, unposted):
            return False
        if unposted:
            self.observe([{k: v for k, v in e.items() if not k.startswith("_")} for e in unposted])
            unposted.clear()
        self.checks += 1
        answer = self.http.call(
            "POST", f"/v1/decisions/{c.decision_id}/confirm", {"now": now.isoformat()}, allow=(409,)
        )
        if "error" in answer:
            why = answer["error"]["details"][0]["message"] if answer["error"].get("details") else "?"
            self.revoked[why] = self.revoked.get(why, 0) + 1
            return False
        return True

    def observe(self, events: list[dict[str, Any]]) -> None:
        for i in range(0, len(events), CHUNK_EVENTS):
            self.http.call("POST", "/v1/events", events[i : i + CHUNK_EVENTS], ndjson=True)

    def caught_up(self, through: datetime | None = None, timeout_s: float = 60.0) -> None:
        """Tell the engine every outcome before `through` is posted (POST /v1/clock), then wait
        until the dataflow has read, learned and queued up to there and this API serves the
        model it published. Ten simulated minutes pass here in milliseconds; the wait makes
        the run a function of the data alone, so two runs of one world answer alike."""
        if through is not None and (self._through is None or through > self._through):
            self.http.call("POST", "/v1/clock", {"now": through.isoformat()})
            self._through = through
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready = self.http.call("GET", "/readyz")
            if ready.get("caught_up"):
                return
            time.sleep(0.01)
        raise TimeoutError(f"the dataflow did not catch up to {through} within {timeout_s} s: {ready}")

    def end_day(self, day: int) -> None:
        self.caught_up(self._posted)

    def extra(self) -> dict[str, Any]:
        return {
            "latencies": self.latencies,
            "answers": self.answers,
            "confirms": self.checks,
            "revoked_at_confirm": self.revoked,
            "dialer_latencies": self.dialer_latencies,
            "routes": self.routes,
        }

    def close(self) -> None:
        self.http.close()


def _utc_hour(t: datetime) -> int:
    h = t.astimezone(UTC).hour
    return h if h >= SHIFT_UTC[0] else h + 24  # the shift runs past midnight UTC
