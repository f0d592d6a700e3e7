"""The strong baseline: what a senior collection analyst writes in a day from the signals an
engine observes, and nothing else (no latent trait, no knowledge of the outage).

- **When the debtor engages**: the local hours of their reads, replies and answered calls (the
  events' own timestamps, not the sends'), pooled with the portfolio's engagement hours.
- **Which channel**: each debtor's engagement rate per channel, shrunk toward the portfolio's
  rate on that channel (a Beta prior worth `PRIOR_CONTACTS` contacts), so that one or two
  responses move it.
- **Which number**: a number is dropped after a third-party answer, a wrong-number reply, a
  SIP 404 or an undelivered message.
- **Which carrier**: answer rates per carrier x destination network x 3-hour band (Beta
  posterior means, the carrier's overall rate as the prior, evidence halving every 12 hours),
  chosen at dial time (a tenth of the calls to another carrier, to keep learning); a breaker
  per carrier opens after a run of failures (3 SIP 5xx or messages the carrier failed, or 10
  calls that rang out unanswered), and lets a bounded share of the traffic probe it, with
  exponential back-off.
- **How often**: at most one contact per account a day; none while a promise is pending, on
  the day of a payment, after an opt-out of the channel, or a dispute; after `QUIET_AFTER` unanswered
  contacts in a row, one every `QUIET_EVERY` days; and a contact only when its expected value
  beats its cost. The agent calls go to the accounts where a call is worth most.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks.sim.audit import Auditor
from benchmarks.sim.catalog import Catalog
from benchmarks.sim.contact import Contact
from benchmarks.sim.policies.base import Audited, at_local, pairs, plan_with_call_centre

CARRIERS = ("c1", "c2", "c3")
CALLS = ("voice", "ivr")
HOURS = tuple(range(8, 21))  # the local hours a contact may be planned at
PRIOR_CONTACTS = 4.0  # a debtor's channel rate borrows this many contacts of the portfolio's
HOUR_PRIOR = 2.0  # the portfolio's hour profile weighs like this many of the debtor's engagements
QUIET_AFTER, QUIET_EVERY = 4, 3
# failures in a row that open a carrier's breaker: SIP 5xx (or a message the carrier failed),
# and calls that rang out unanswered (at an answer rate of 0.5, 10 in a row is 1 in 1,000)
BREAKER_RUN, BREAKER_UNANSWERED_RUN = 3, 10
PROBE_SHARE = 0.05  # of the calls that would have gone to an open carrier, at most this share probes
PROBE_BACKOFF_S = (300.0, 3600.0)  # first wait before a probe, doubled after each failed one
PAY_SHARE = 0.12  # of the balance, what an engagement is worth (the analyst's rule of thumb)
HALF_LIFE_S = 12 * 3600.0  # carrier evidence halves in this much event time
EXPLORE = 0.1  # share of calls routed to another closed carrier than the best, to keep learning


def band(hour: int) -> int:
    return hour // 3


@dataclass
class Debtor:
    sent: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    engaged: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    hours: list[int] = field(default_factory=list)  # local hours of engagement
    bad_points: set[str] = field(default_factory=set)
    opted_out: set[str] = field(default_factory=set)  # channels; "*" is every one
    disputed: bool = False
    promise_until: date | None = None
    unanswered: int = 0  # contacts in a row without engagement
    last_contact: date | None = None
    paid_on: date | None = None  # the local day of the last payment


@dataclass
class Breaker:
    run: int = 0
    unanswered: int = 0
    open_since: datetime | None = None
    next_probe: datetime | None = None
    backoff_s: float = PROBE_BACKOFF_S[0]


class Adaptive(Audited):
    name = "adaptive"

    def __init__(self, auditor: Auditor, catalog: Catalog, seed: int) -> None:
        super().__init__(auditor)
        self.catalog = catalog
        self.rng = random.Random(seed * 104729 + 3)
        self.debtors: dict[str, Debtor] = defaultdict(Debtor)
        self.docs: dict[str, dict[str, Any]] = {}
        self.zones: dict[str, ZoneInfo] = {}
        self.channel_sent: dict[str, float] = defaultdict(float)
        self.channel_engaged: dict[str, float] = defaultdict(float)
        self.hour_profile: dict[int, float] = defaultdict(float)
        # carrier answer evidence: (carrier, network, band) and (carrier,) -> [answered, attempts, ts]
        self.asr: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        self.breakers: dict[str, Breaker] = defaultdict(Breaker)
        self.networks: dict[tuple[str, str], str] = {}  # (account, point) -> network
        self.sent_points: dict[str, tuple[str, str]] = {}  # decision id -> (account, channel)
        self.probes = 0

    # --- what is observed -------------------------------------------------------------------

    def _local_hour(self, account_id: str, ts: str) -> int:
        return datetime.fromisoformat(ts).astimezone(self.zones[account_id]).hour

    def observe(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            aid, kind, ch = ev["account_id"], ev["type"], ev.get("channel")
            d = self.debtors[aid]
            point = ev.get("contact_point_id")
            engaged = (
                (kind == "message" and ev.get("status") == "read")
                or kind == "reply"
                or (kind == "call" and ev.get("party") == "right_party")
            )
            if engaged and ch:
                if kind != "reply":  # a reply follows a read already counted
                    d.engaged[ch] += 1
                    self.channel_engaged[ch] += 1
                    d.unanswered = 0
                hour = self._local_hour(aid, ev["ts"])
                d.hours.append(hour)
                self.hour_profile[hour] += 1
            if point and (
                (kind == "call" and (ev.get("sip_code") == 404 or ev.get("party") == "third_party"))
                or (kind == "message" and ev.get("status") == "undelivered")
                or (kind == "reply" and ev.get("intent") == "wrong_number")
            ):
                d.bad_points.add(point)
            if kind == "optout":
                d.opted_out.add(ev.get("channel") or "*")
            elif kind == "dispute":
                d.disputed = True
            elif kind == "promise" and ev.get("due_date"):
                d.promise_until = date.fromisoformat(ev["due_date"]) + timedelta(days=1)
            elif kind == "payment":
                d.paid_on = datetime.fromisoformat(ev["ts"]).astimezone(self.zones[aid]).date()
            if ev.get("carrier") and point:
                self._carrier_outcome(aid, point, ev)

    def _carrier_outcome(self, aid: str, point: str, ev: dict[str, Any]) -> None:
        carrier, status = ev["carrier"], ev.get("status")
        ts = datetime.fromisoformat(ev["ts"])
        if ev["type"] == "message":  # the carrier's delivery: breaker evidence only
            if status == "delivered":
                self._breaker(carrier, ts, ok=True)
            elif status == "failed" and ev.get("error_code") == "503":
                self._breaker(carrier, ts, ok=False, hard=True)
            return
        if ev.get("sip_code") == 404 or status not in (
            "answered",
            "voicemail",
            "no_answer",
            "busy",
            "failed",
        ):
            return  # a dead number is the number's fault, not the carrier's
        answered = status in ("answered", "voicemail")
        network = self.networks.get((aid, point), "?")
        b = band(ts.astimezone(self.zones[aid]).hour)
        for key in ((carrier, network, b), (carrier,)):
            cell = self.asr[key]
            fade = 0.5 ** (max(0.0, ts.timestamp() - cell[2]) / HALF_LIFE_S) if cell[2] else 1.0
            cell[0], cell[1], cell[2] = cell[0] * fade + answered, cell[1] * fade + 1, ts.timestamp()
        if answered:
            self._breaker(carrier, ts, ok=True)
        elif (ev.get("sip_code") or 0) >= 500:
            self._breaker(carrier, ts, ok=False, hard=True)
        elif status == "no_answer":
            self._breaker(carrier, ts, ok=False, hard=False)

    def _breaker(self, carrier: str, ts: datetime, ok: bool, hard: bool = True) -> None:
        br = self.breakers[carrier]
        if ok:
            if br.open_since is not None:  # a probe went through: close it
                br.open_since, br.backoff_s = None, PROBE_BACKOFF_S[0]
            br.run = br.unanswered = 0
        else:
            br.run += hard
            br.unanswered += not hard
            if br.open_since is None and (br.run >= BREAKER_RUN or br.unanswered >= BREAKER_UNANSWERED_RUN):
                br.open_since, br.next_probe = ts, ts + timedelta(seconds=br.backoff_s)
            elif br.open_since is not None:  # a failed probe: wait longer for the next
                br.backoff_s = min(br.backoff_s * 2, PROBE_BACKOFF_S[1])
                br.next_probe = ts + timedelta(seconds=br.backoff_s)

    # --- choosing ---------------------------------------------------------------------------

    def _channel_rate(self, d: Debtor, channel: str) -> float:
        prior = (self.channel_engaged[channel] + 1) / (self.channel_sent[channel] + 10)
        return (d.engaged[channel] + PRIOR_CONTACTS * prior) / (d.sent[channel] + PRIOR_CONTACTS)

    def _hour_weights(self, d: Debtor) -> dict[int, float]:
        """Relative chance of engagement by local hour: the debtor's, pooled with the portfolio's."""
        total = sum(self.hour_profile[h] for h in HOURS) or 1.0
        counts: dict[int, float] = defaultdict(float)
        for h in d.hours:
            counts[h] += 1
        n = len(d.hours)
        out = {}
        for h in HOURS:
            around = counts[h] + 0.5 * (counts[h - 1] + counts[h + 1])  # hours near an engagement count
            portfolio = (self.hour_profile[h] + 1) / (total + len(HOURS))
            out[h] = (around + HOUR_PRIOR * portfolio * len(HOURS) / 2) / (n + HOUR_PRIOR)
        peak = max(out.values())
        return {h: v / peak for h, v in out.items()}

    def _carrier_rate(self, carrier: str, network: str, b: int) -> float:
        overall = self.asr[(carrier,)]
        prior = (overall[0] + 1) / (overall[1] + 2)
        cell = self.asr[(carrier, network, b)]
        return (cell[0] + 4 * prior) / (cell[1] + 4)

    def _route(self, account_id: str, point: str, t: datetime) -> str:
        network = self.networks.get((account_id, point), "?")
        b = band(t.astimezone(self.zones[account_id]).hour)
        ranked = sorted(CARRIERS, key=lambda c: -self._carrier_rate(c, network, b))
        if self.rng.random() < EXPLORE:
            ranked.insert(0, ranked.pop(self.rng.randrange(len(ranked))))
        for carrier in ranked:
            br = self.breakers[carrier]
            if br.open_since is None:
                return carrier
            if br.next_probe is not None and t >= br.next_probe and self.rng.random() < PROBE_SHARE:
                br.next_probe = t + timedelta(seconds=br.backoff_s)
                self.probes += 1
                return carrier
        return ranked[0]  # every breaker open: the best by evidence

    def _stopped(self, d: Debtor, today: date) -> bool:
        """A dispute, an opt-out of everything, a pending promise or a payment today."""
        if d.disputed or "*" in d.opted_out or d.paid_on == today:
            return True
        return d.promise_until is not None and today <= d.promise_until

    def _resting(self, d: Debtor, doc: dict[str, Any], today: date) -> bool:
        if doc["balance"] <= 0 or self._stopped(d, today) or d.last_contact == today:
            return True
        quiet = d.unanswered >= QUIET_AFTER
        return quiet and d.last_contact is not None and (today - d.last_contact).days < QUIET_EVERY

    def _best(self, doc: dict[str, Any], now: datetime, voice: bool) -> tuple[float, Contact] | None:
        aid = doc["account_id"]
        d = self.debtors[aid]
        today = now.astimezone(self.zones[aid]).date()
        if self._resting(d, doc, today):
            return None
        worth = self.catalog.to_base(doc["balance"], doc["currency"]) * PAY_SHARE
        hours = self._hour_weights(d)
        options = []
        for channel, point, network in pairs(doc):
            if (channel == "voice" and not voice) or channel in d.opted_out or point in d.bad_points:
                continue
            if network:
                self.networks[(aid, point)] = network
            rate = self._channel_rate(d, channel)
            cost = self.catalog.expected_cost(channel, "c2" if channel in ("voice", "ivr", "sms") else None)
            for h in HOURS:
                ev = rate * hours[h] * worth - cost
                if ev > 0:
                    options.append((ev, channel, point, h))
        options.sort(key=lambda o: -o[0])
        for ev, channel, point, h in options[:20]:
            templates = self.catalog.templates_for(channel, doc["days_past_due"])
            c = Contact(
                aid, channel, point, at_local(doc, now, h + 0.25), templates[0] if templates else None
            )
            if self.allowed(c):
                return ev, c
        return None

    def morning(self, day: int, now: datetime, docs: list[dict[str, Any]]) -> list[Contact]:
        for doc in docs:
            self.docs[doc["account_id"]] = doc
            self.zones.setdefault(doc["account_id"], ZoneInfo(doc["timezone"]))
        live = [doc for doc in docs if doc["balance"] > 0]
        return plan_with_call_centre(live, lambda doc, voice: self._best(doc, now, voice), len(docs))

    def confirm(self, c: Contact, now: datetime, unposted: list[dict[str, Any]], touched: bool) -> bool:
        d = self.debtors[c.account_id]
        today = now.astimezone(self.zones[c.account_id]).date()
        if touched or c.channel in ("voice", "ivr", "sms"):
            # what happened so far this step: the carrier's last outcomes reach a dialer and an
            # SMS gateway within seconds, as they reach cadencia before it routes
            self.observe([{k: v for k, v in e.items() if not k.startswith("_")} for e in unposted])
            unposted.clear()
        if touched and (self._stopped(d, today) or c.channel in d.opted_out):
            return False  # a promise, payment, opt-out or dispute since the plan
        if not self.allowed(c):
            return False
        if c.channel in ("voice", "ivr", "sms"):
            c.carrier = self._route(c.account_id, c.point_id, now)
        d.sent[c.channel] += 1
        self.channel_sent[c.channel] += 1
        d.unanswered += 1
        d.last_contact = today
        return True

    def extra(self) -> dict[str, Any]:
        return {"probes": self.probes}
