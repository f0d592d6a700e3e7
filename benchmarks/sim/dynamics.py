"""How the world answers: a contact's outcome, payments, promises kept and broken, self-cure,
annoyance. Every chance is a keyed draw (`rand`), so the world is the same for every policy.

The world moves only by events processed in time order: `contact()` decides at the send time
what will happen and returns it as timed `Pending` items; `realise()` applies one when the
clock reaches it (a payment is clamped to what is still owed then) and returns the wire events
the operation sees.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks.sim.catalog import Catalog, Outage, dpd_bucket
from benchmarks.sim.contact import Contact
from benchmarks.sim.rand import between, chance, uniform
from benchmarks.sim.texts import reply_text
from benchmarks.sim.world import CALLS, Debtor, Phone

CHANNEL_PAY = {"voice": 1.6, "ivr": 0.7, "whatsapp": 1.0, "sms": 0.8, "email": 0.7}
DPD_PAY = {"1-30": 1.25, "31-60": 1.0, "61-90": 0.8, "91-180": 0.6}
PAY_NOW = 0.35  # share of payment intents paid at once (payment link) rather than promised


@dataclass
class Promise:
    amount: float
    due: date
    made: datetime
    keep: bool
    share: float  # of the amount actually paid when kept


@dataclass
class State:
    balance: float  # outstanding, account currency
    dpd: int
    paid: float = 0.0
    optouts: set[str] = field(default_factory=set)
    disputed: bool = False
    promise: Promise | None = None
    contacts: list[datetime] = field(default_factory=list)
    annoy: float = 1.0  # multiplies willingness; over-contact lowers it

    @property
    def closed(self) -> bool:
        return self.balance <= 0.005

    def recent(self, t: datetime, days: int = 7) -> int:
        since = t - timedelta(days=days)
        return sum(1 for c in self.contacts if since < c <= t)


@dataclass(order=True)
class Pending:
    ts: datetime
    seq: int
    account_id: str = field(compare=False)
    kind: str = field(compare=False)  # event | pay | broken
    payload: dict[str, Any] = field(compare=False)


@dataclass
class Charge:
    channel_cost: float = 0.0  # base currency
    carrier_cost: float = 0.0
    call_attempt: bool = False
    call_answered: bool = False
    right_party: bool = False
    engaged: bool = False


def _iso(t: datetime) -> str:
    return t.isoformat()


@dataclass(frozen=True)
class RoutingTruth:
    network: str
    chosen: float
    best: float
    down: bool


class World:
    def __init__(self, debtors: list[Debtor], seed: int, catalog: Catalog, outage: Outage) -> None:
        self.debtors = {d.account_id: d for d in debtors}
        self.state = {d.account_id: State(d.balance, d.dpd) for d in debtors}
        self.seed = seed
        self.catalog = catalog
        self.outage = outage
        self._seq = itertools.count()
        self._ids = itertools.count()

    # --- time passing ---------------------------------------------------------------------

    def morning(self, day: int, start: datetime) -> list[Pending]:
        """A new day (`start`, UTC): DPD grows; self-curers and chance payers pay today."""
        out = []
        for aid, d in self.debtors.items():
            s = self.state[aid]
            if day > 0 and not s.closed:
                s.dpd += 1
            if s.closed or s.disputed:
                continue
            if chance(self.seed, d.self_cure, aid, day, "cure"):
                hour = between(self.seed, 9, 20, aid, day, "cure_h")
                at = self._local_time(d, start, hour)
                out.append(self._pending(at, aid, "pay", {"amount": None, "cause": "self_cure"}))
        return out

    def _local_time(self, d: Debtor, day_start: datetime, local_hour: float) -> datetime:
        local_day = day_start.astimezone(ZoneInfo(d.timezone)).date()
        h = int(local_hour)
        m = int((local_hour - h) * 60)
        return datetime(local_day.year, local_day.month, local_day.day, h, m, tzinfo=ZoneInfo(d.timezone))

    def _pending(self, ts: datetime, aid: str, kind: str, payload: dict[str, Any]) -> Pending:
        return Pending(ts, next(self._seq), aid, kind, payload)

    def _event(self, ts: datetime, d: Debtor, kind: str, c: Contact | None, **fields: Any) -> Pending:
        ev: dict[str, Any] = {
            "event_id": f"w-{next(self._ids)}",
            "ts": _iso(ts),
            "type": kind,
            "account_id": d.account_id,
            **fields,
        }
        if c is not None:
            ev.update(
                decision_id=c.decision_id, channel=c.channel, contact_point_id=c.point_id, carrier=c.carrier
            )
            ev = {k: v for k, v in ev.items() if v is not None}
        return self._pending(ts, d.account_id, "event", ev)

    # --- one contact ----------------------------------------------------------------------

    def contact(self, c: Contact) -> tuple[list[Pending], Charge]:
        d, s = self.debtors[c.account_id], self.state[c.account_id]
        t = c.send_at
        s.contacts.append(t)
        over = max(0, s.recent(t) - d.tolerance)
        if over:
            s.annoy *= 0.93**over
        key = (c.account_id, t.timestamp(), c.channel, c.point_id)
        hour = t.astimezone(ZoneInfo(d.timezone)).hour
        if c.channel in CALLS:
            return self._call(d, s, c, key, hour, over)
        return self._message(d, s, c, key, hour, over)

    def routing_truth(self, c: Contact, t: datetime) -> RoutingTruth:
        """How good the call's carrier was, by the hidden answer rates: the chosen carrier's
        chance to complete the call, the best carrier's at that network and local hour (a
        carrier in its outage completes nothing), and whether the chosen one was down."""
        d = self.debtors[c.account_id]
        phone = self._phone(d, c.point_id)
        network = phone.network if phone is not None else "unknown"
        hour = t.astimezone(ZoneInfo(d.timezone)).hour

        def rate(carrier: str) -> float:
            return 0.0 if self.outage.down(carrier, t) else self.catalog.asr(carrier, network, hour)

        best = max(rate(cid) for cid in self.catalog.carriers)
        return RoutingTruth(network, rate(c.carrier or ""), best, self.outage.down(c.carrier, t))

    def _phone(self, d: Debtor, point_id: str) -> Phone | None:
        return next((p for p in d.phones if p.id == point_id), None)

    def _message(
        self, d: Debtor, s: State, c: Contact, key: tuple, hour: int, over: int
    ) -> tuple[list[Pending], Charge]:
        charge = Charge(
            channel_cost=self.catalog.channel_cost(c.channel, 0.0),
            carrier_cost=self.catalog.carrier_cost(c.carrier, c.channel, 0.0),
        )
        t = c.send_at
        out = [self._event(t, d, "message", c, status="sent")]
        phone = self._phone(d, c.point_id)
        if c.channel == "email":
            deliverable, wrong = d.email_valid, False
        else:
            deliverable = phone is not None and phone.state != "dead"
            wrong = phone is not None and phone.state == "wrong"
        if c.channel == "sms" and self.outage.down(c.carrier, t):
            out.append(
                self._event(t + timedelta(seconds=20), d, "message", c, status="failed", error_code="503")
            )
            return out, charge
        if not deliverable:
            status = "undelivered" if c.channel != "email" else "failed"
            out.append(
                self._event(t + timedelta(seconds=40), d, "message", c, status=status, error_code="30003")
            )
            return out, charge
        out.append(self._event(t + timedelta(minutes=1), d, "message", c, status="delivered"))
        if wrong:
            if chance(self.seed, 0.2, *key, "wrongreply"):
                text = reply_text(self.seed, "wrong_number", d.language, *key)
                out.append(
                    self._event(t + timedelta(minutes=12), d, "reply", c, text=text, intent="wrong_number")
                )
            return out, charge
        p_read = d.affinity[c.channel] * d.activity(hour) * 0.9**over
        if not chance(self.seed, p_read, *key, "read"):
            if over and chance(self.seed, 0.03 * over, *key, "annoyed"):
                out += self._optout(d, c, key, t + timedelta(minutes=30))
            return out, charge
        read_at = t + timedelta(minutes=2 + 60 * uniform(self.seed, *key, "read_at"))
        out.append(self._event(read_at, d, "message", c, status="read"))
        charge.engaged = True
        out += self._engaged(d, s, c, key, read_at, over, reply=True)
        return out, charge

    def _call(
        self, d: Debtor, s: State, c: Contact, key: tuple, hour: int, over: int
    ) -> tuple[list[Pending], Charge]:
        t = c.send_at
        phone = self._phone(d, c.point_id)
        charge = Charge(call_attempt=True)
        minutes, out = 0.0, []
        if self.outage.down(c.carrier, t) and self.outage.kind == "timeout":
            out.append(self._event(t + timedelta(seconds=45), d, "call", c, status="no_answer"))
        elif self.outage.down(c.carrier, t):
            out.append(self._event(t + timedelta(seconds=3), d, "call", c, status="failed", sip_code=503))
        elif phone is None or phone.state == "dead":
            out.append(self._event(t + timedelta(seconds=4), d, "call", c, status="failed", sip_code=404))
        elif not chance(self.seed, self.catalog.asr(c.carrier or "c1", phone.network, hour), *key, "asr"):
            status = "no_answer" if uniform(self.seed, *key, "na") < 0.7 else "busy"
            out.append(self._event(t + timedelta(seconds=30), d, "call", c, status=status))
        else:
            charge.call_answered = True
            reach = (
                phone.p_right * (0.3 + 0.7 * d.activity(hour)) * min(1.0, 0.2 + 1.6 * d.affinity[c.channel])
            )
            if phone.state != "wrong" and chance(self.seed, reach, *key, "rpc"):
                minutes = between(self.seed, 2.0, 5.0, *key, "dur") if c.channel == "voice" else 1.0
                charge.right_party = charge.engaged = True
                end = t + timedelta(minutes=minutes)
                out.append(
                    self._event(
                        end,
                        d,
                        "call",
                        c,
                        status="answered",
                        party="right_party",
                        duration_s=round(minutes * 60),
                    )
                )
                out += self._engaged(d, s, c, key, end, over, reply=False)
            elif uniform(self.seed, *key, "vm") < 0.4:
                minutes = 0.5
                out.append(
                    self._event(t + timedelta(seconds=40), d, "call", c, status="voicemail", duration_s=30)
                )
            else:
                minutes = between(self.seed, 0.3, 1.0, *key, "dur3")
                out.append(
                    self._event(
                        t + timedelta(minutes=minutes),
                        d,
                        "call",
                        c,
                        status="answered",
                        party="third_party",
                        duration_s=round(minutes * 60),
                    )
                )
        charge.channel_cost = self.catalog.channel_cost(c.channel, minutes)
        charge.carrier_cost = self.catalog.carrier_cost(c.carrier, c.channel, minutes)
        return out, charge

    def pay_intent(self, d: Debtor, s: State, channel: str, template: str | None) -> float:
        """Chance that an engaged debtor pays or promises (the oracle reads this too)."""
        p = (
            d.willingness
            * s.annoy
            * self.catalog.template_effect(template, s.dpd)
            * CHANNEL_PAY[channel]
            * DPD_PAY[dpd_bucket(s.dpd)]
        )
        return min(0.95, p)

    def _engaged(
        self, d: Debtor, s: State, c: Contact, key: tuple, at: datetime, over: int, reply: bool
    ) -> list[Pending]:
        """An engaged debtor (read the message, or answered in person) may opt out, dispute,
        pay at once, promise, or just answer."""
        if chance(self.seed, 0.006 + 0.05 * over, *key, "optout"):
            return self._optout(d, c, key, at + timedelta(minutes=3))
        if chance(self.seed, 0.004 + 0.01 * (1 - d.willingness), *key, "dispute"):
            text = reply_text(self.seed, "dispute", d.language, *key)
            out = [self._event(at + timedelta(minutes=4), d, "reply", c, text=text)] if reply else []
            return [*out, self._event(at + timedelta(minutes=5), d, "dispute", c, text=text)]
        out: list[Pending] = []
        if chance(self.seed, self.pay_intent(d, s, c.channel, c.template), *key, "intent"):
            owed = s.balance
            if uniform(self.seed, *key, "now") < PAY_NOW:
                share = 1.0 if d.ability > 0.5 else between(self.seed, 0.3, 0.6, *key, "share")
                if reply:
                    out.append(
                        self._event(
                            at + timedelta(minutes=8),
                            d,
                            "reply",
                            c,
                            text=reply_text(self.seed, "paid", d.language, *key),
                        )
                    )
                out.append(
                    self._pending(
                        at + timedelta(minutes=10),
                        d.account_id,
                        "pay",
                        {
                            "amount": round(owed * share, 2),
                            "cause": "contact",
                            "decision_id": c.decision_id,
                            "channel": c.channel,
                        },
                    )
                )
                return out
            local = at.astimezone(ZoneInfo(d.timezone))
            due = local.date() + timedelta(days=1 + int(uniform(self.seed, *key, "due") * 6))
            amount = round(owed * (1.0 if d.ability > 0.6 else between(self.seed, 0.4, 0.8, *key, "amt")), 2)
            keep = chance(self.seed, 0.3 + 0.6 * d.ability * s.annoy, *key, "keep")
            share = (
                1.0
                if uniform(self.seed, *key, "partial") > 0.25
                else between(self.seed, 0.3, 0.8, *key, "ps")
            )
            if reply:
                text = reply_text(self.seed, "promise", d.language, *key, weekday=due.weekday())
                out.append(self._event(at + timedelta(minutes=6), d, "reply", c, text=text, intent="promise"))
            out.append(
                self._event(
                    at + timedelta(minutes=7), d, "promise", c, amount=amount, due_date=due.isoformat()
                )
            )
            out[-1].payload["_promise"] = Promise(amount, due, at, keep, share)
            return out
        if reply and chance(self.seed, 0.3, *key, "hardship"):
            text = reply_text(self.seed, "hardship", d.language, *key)
            out.append(self._event(at + timedelta(minutes=9), d, "reply", c, text=text))
        return out

    def _optout(self, d: Debtor, c: Contact, key: tuple, at: datetime) -> list[Pending]:
        everything = chance(self.seed, 0.25, *key, "optall")
        intent = "optout_all" if everything else "optout"
        out = []
        if c.channel not in CALLS:
            out.append(
                self._event(
                    at, d, "reply", c, text=reply_text(self.seed, intent, d.language, *key), intent="optout"
                )
            )
        fields = {} if everything else {"channel": c.channel}
        ev = self._event(at + timedelta(seconds=30), d, "optout", c, **fields)
        if everything:
            ev.payload.pop("channel", None)
        out.append(ev)
        return out

    # --- the clock reaches a pending item -------------------------------------------------

    def realise(self, p: Pending) -> tuple[list[dict[str, Any]], list[Pending]]:
        """Apply `p` to the world; return the wire events it produces and any follow-ups."""
        d, s = self.debtors[p.account_id], self.state[p.account_id]
        if p.kind == "pay":
            amount = s.balance if p.payload["amount"] is None else min(p.payload["amount"], s.balance)
            if amount <= 0.005 or (s.disputed and p.payload["cause"] == "self_cure"):
                return [], []
            s.balance = round(s.balance - amount, 2)
            s.paid += amount
            if (
                p.payload["cause"] == "promise"
                and s.promise is not None
                and s.promise.made == p.payload["made"]
            ):
                s.promise = None
            ev = {
                "event_id": f"w-{next(self._ids)}",
                "ts": _iso(p.ts),
                "type": "payment",
                "account_id": d.account_id,
                "amount": round(amount, 2),
            }
            if p.payload.get("decision_id"):
                ev.update(decision_id=p.payload["decision_id"], channel=p.payload["channel"])
            ev["_cause"] = p.payload["cause"]
            return [ev], []
        if p.kind == "broken":
            if s.promise is not None and s.promise.made == p.payload["made"]:
                s.promise = None
            return [], []
        ev = dict(p.payload)
        promise = ev.pop("_promise", None)
        follow: list[Pending] = []
        kind = ev["type"]
        if kind == "optout":
            s.optouts.add(ev.get("channel", "*"))
        elif kind == "dispute":
            s.disputed = True
            s.promise = None
        elif kind == "promise" and promise is not None:
            s.promise = promise
            tz = ZoneInfo(d.timezone)
            if promise.keep:
                hour = between(self.seed, 8, 20, d.account_id, p.ts.timestamp(), "due_h")
                at = datetime.combine(promise.due, datetime.min.time(), tz) + timedelta(hours=hour)
                follow.append(
                    self._pending(
                        at,
                        d.account_id,
                        "pay",
                        {
                            "amount": round(promise.amount * promise.share, 2),
                            "cause": "promise",
                            "made": promise.made,
                        },
                    )
                )
            end = datetime.combine(promise.due + timedelta(days=1), datetime.min.time(), tz)
            follow.append(self._pending(end, d.account_id, "broken", {"made": promise.made}))
        return [ev], follow
