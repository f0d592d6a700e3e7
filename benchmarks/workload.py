"""Synthetic data, deterministic from a seed: accounts, decide, route and dialer/next bodies,
NDJSON event batches.

A decision reserves its account until `expires_at`, so the same request twice answers
"wait" (contact_locked). To measure the contact path, the decide bodies walk the accounts in
passes: every body in a pass names a different account, and each pass moves `now` on by
PASS_DAYS, past every lock the previous pass can hold (send_at within 24 h, +2 h reservation).
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

MX = timezone(timedelta(hours=-6))
BASE_NOW = datetime(2026, 3, 2, 10, 0, tzinfo=MX)  # a Monday, 10:00 in Mexico City
PASS_DAYS = 3
RS = b"\x1e"  # separates NDJSON batches in a bodies file (see tools.RS)

NETWORKS = ("telcel", "movistar", "att")
PORTFOLIOS = ("cards", "loans", "bnpl")
DPD_MAX = 120  # days past due are uniform over 1..DPD_MAX


def early_dpd_filter(share: float) -> dict[str, int]:
    """A campaign filter over the earliest days past due that holds about `share` of the
    `account_docs` portfolio (at least its first day's 1/DPD_MAX)."""
    return {"days_past_due_min": 1, "days_past_due_max": max(1, round(DPD_MAX * share))}


def account_id(i: int) -> str:
    return f"B-{i:06d}"


def account_docs(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """`n` realistic accounts, generated one at a time: 2-3 contact points, attributes."""
    rng = random.Random(seed)
    for i in range(n):
        mobile = f"+52155{i:08d}"
        points: list[dict[str, Any]] = [
            {"id": "m1", "type": "mobile", "address": mobile, "network": rng.choice(NETWORKS),
             "channels": ["voice", "ivr", "sms", "whatsapp"]},
            {"id": "e1", "type": "email", "address": f"debtor{i}@example.com", "channels": ["email"]},
        ]
        if rng.random() < 0.5:
            points.append({"id": "h1", "type": "landline", "address": f"+52333{i:07d}",
                           "network": "telmex", "channels": ["voice"]})
        yield {
            "account_id": account_id(i), "portfolio": rng.choice(PORTFOLIOS), "product": "credit_card",
            "balance": round(rng.uniform(300, 60_000), 2), "currency": "MXN",
            "days_past_due": rng.randint(1, DPD_MAX), "country": "MX", "region": "MX-JAL",
            "timezone": "America/Mexico_City",
            "attributes": {"risk_score": rng.randint(450, 800), "segment": rng.choice("ABC")},
            "contact_points": points,
        }


DIALER_PORTFOLIO = "dialer"


def dialer_account_id(i: int) -> str:
    return f"D-{i:06d}"


def dialer_docs(n: int, seed: int = 4) -> Iterator[dict[str, Any]]:
    """Accounts of their own for the dialer campaign (ids D-..., portfolio DIALER_PORTFOLIO):
    decide and the events never touch them, so neither workload meets the other's locks."""
    for i, doc in enumerate(account_docs(n, seed)):
        for point in doc["contact_points"]:
            if point["type"] != "email":
                point["address"] = point["address"].replace("+52", "+53", 1)
        yield doc | {"account_id": dialer_account_id(i), "portfolio": DIALER_PORTFOLIO}


def accounts(n: int, seed: int = 1) -> list[dict[str, Any]]:
    return list(account_docs(n, seed))


def _stride(n: int) -> int:
    """A step coprime with n: walking i*stride mod n visits every account once per pass."""
    stride = 7919
    while math.gcd(stride, n) != 1:
        stride += 2
    return stride


class _Cursor(ABC):
    """Request bodies handed out in files of `count` lines, numbered on from the last; a
    subclass says what body `k` is and how many make one pass over its accounts."""

    name = "bodies"
    k: int
    files: int
    dir: Path

    @abstractmethod
    def body(self, k: int) -> bytes:
        """The `k`-th request body of the run."""

    @property
    @abstractmethod
    def per_pass(self) -> int:
        """How many bodies make one pass over the accounts."""

    def take(self, count: int) -> Path:
        path = self.dir / f"{self.name}-{self.files}.txt"
        self.files += 1
        path.write_bytes(b"\n".join(self.body(k) for k in range(self.k, self.k + count)) + b"\n")
        self.k += count
        return path

    @property
    def passes(self) -> float:
        return self.k / self.per_pass


class DecideCursor(_Cursor):
    """Hands out decide bodies that never repeat an (account, now) pair within a run."""

    name = "decide"

    def __init__(self, n_accounts: int, work_dir: Path) -> None:
        self.n = n_accounts
        self.stride = _stride(n_accounts)
        self.k = 0
        self.dir = work_dir
        self.files = 0

    def body(self, k: int) -> bytes:
        pass_no, j = divmod(k, self.n)
        now = BASE_NOW + timedelta(days=PASS_DAYS * pass_no)
        return orjson.dumps({"account_id": account_id((j * self.stride) % self.n),
                             "now": now.isoformat()})

    @property
    def per_pass(self) -> int:
        return self.n


class RouteCursor(_Cursor):
    """Route bodies: the accounts' mobile numbers in turn, voice and sms alternately, `now`
    moving on PASS_DAYS per pass over the accounts (like DecideCursor). Route keeps no
    per-account state, so nothing here can be refused as a repeat."""

    name = "route"

    def __init__(self, n_accounts: int, work_dir: Path) -> None:
        self.numbers = [(d["contact_points"][0]["address"], d["contact_points"][0]["network"])
                        for d in account_docs(n_accounts)]
        self.k = 0
        self.dir = work_dir
        self.files = 0

    def body(self, k: int) -> bytes:
        pass_no, j = divmod(k, len(self.numbers))
        address, network = self.numbers[j]
        now = BASE_NOW + timedelta(days=PASS_DAYS * pass_no)
        return orjson.dumps({"address": address, "network": network, "channel": ("voice", "sms")[k % 2],
                             "now": now.isoformat()})

    @property
    def per_pass(self) -> int:
        return len(self.numbers)


DIALER_CAMPAIGN = "bench"
DIALER_COUNT = 10
DIALER_FILTER = {"portfolio": DIALER_PORTFOLIO}


def dialer_body(campaign: str, count: int, now: datetime) -> bytes:
    return orjson.dumps({"campaign": campaign, "count": count, "now": now.isoformat()})


class DialerCursor(_Cursor):
    """dialer/next bodies for DIALER_CAMPAIGN (the `dialer_docs` accounts). Every lead is
    leased for 15 minutes of event time and held out of the queue meanwhile, so `now` moves
    on PASS_DAYS after every n_accounts / (2 * DIALER_COUNT) requests: a pass asks for at
    most half the campaign, whatever rules hold back cannot make it run dry, and the next
    pass finds every lease of the previous one expired (the engine brings them back)."""

    name = "dialer"

    def __init__(self, n_accounts: int, work_dir: Path) -> None:
        self.requests_per_pass = max(1, n_accounts // (2 * DIALER_COUNT))
        self.k = 0
        self.dir = work_dir
        self.files = 0

    def body(self, k: int) -> bytes:
        now = BASE_NOW + timedelta(days=PASS_DAYS * (k // self.requests_per_pass))
        return dialer_body(DIALER_CAMPAIGN, DIALER_COUNT, now)

    @property
    def per_pass(self) -> int:
        return self.requests_per_pass



def stateless_decide_bodies(n_accounts: int, path: Path) -> Path:
    """Bodies for the reference apps, which keep no state: one per account."""
    stride = _stride(n_accounts)
    now = BASE_NOW.isoformat()
    path.write_bytes(b"\n".join(
        orjson.dumps({"account_id": account_id((j * stride) % n_accounts), "now": now})
        for j in range(n_accounts)) + b"\n")
    return path


class EventCursor:
    """Unique events (the event_id is the idempotency key) over random existing accounts:
    message deliveries on SMS and unanswered calls. Event times sit a day before the
    first decision and move on by a millisecond per event."""

    def __init__(self, n_accounts: int, work_dir: Path, seed: int = 2) -> None:
        self.n = n_accounts
        self.rng = random.Random(seed)
        self.k = 0
        self.dir = work_dir
        self.files = 0
        self.t0 = (BASE_NOW - timedelta(days=1)).timestamp()

    def event(self) -> bytes:
        k = self.k
        self.k += 1
        ts = datetime.fromtimestamp(self.t0 + k / 1000.0, UTC).isoformat(timespec="milliseconds")
        acct = account_id(self.rng.randrange(self.n))
        if self.rng.random() < 0.75:
            doc = {"event_id": f"ev-{k}", "ts": ts, "type": "message", "status": "delivered",
                   "account_id": acct, "channel": "sms"}
        else:
            doc = {"event_id": f"ev-{k}", "ts": ts, "type": "call", "status": "no_answer",
                   "account_id": acct, "channel": "voice", "contact_point_id": "m1"}
        return orjson.dumps(doc)

    def batch(self, size: int) -> bytes:
        return b"\n".join(self.event() for _ in range(size)) + b"\n"

    def take(self, batches: int, size: int) -> Path:
        """A bodies file of `batches` NDJSON batches, separated by RS."""
        path = self.dir / f"events-{self.files}.bin"
        self.files += 1
        path.write_bytes(RS.join(self.batch(size) for _ in range(batches)))
        return path


MESSAGING = ("sms", "whatsapp", "email")


PROMISE_EVERY = 10  # one debtor in ten who read the message promises to pay


def activity_events(i: int, decision: dict[str, Any] | None) -> list[bytes]:
    """A day's activity on account i after one decision: the message delivered and read
    (attributed to the decision when it chose a messaging channel), a promise to pay from
    one account in PROMISE_EVERY, then an unanswered call. Without the promises every
    response would be one that never paid, and the models would learn, rightly, that no
    contact is worth its cost: later dialer/next measurements would hand out nothing."""
    acct = account_id(i)
    ts = [(BASE_NOW + timedelta(hours=1, minutes=m)).isoformat() for m in (0, 5, 10, 30)]
    msg: dict[str, Any] = {"account_id": acct, "type": "message", "channel": "sms"}
    if decision and decision.get("action") == "contact" and decision.get("channel") in MESSAGING:
        msg |= {"channel": decision["channel"], "decision_id": decision["decision_id"],
                "contact_point_id": decision["contact_point_id"]}
    events = [
        msg | {"event_id": f"act-{i}-0", "ts": ts[0], "status": "delivered"},
        msg | {"event_id": f"act-{i}-1", "ts": ts[1], "status": "read"},
    ]
    if i % PROMISE_EVERY == 0:
        due = (BASE_NOW + timedelta(days=5)).date().isoformat()
        events.append({"event_id": f"act-{i}-p", "ts": ts[2], "type": "promise", "account_id": acct,
                       "amount": 500.0, "due_date": due})
    events.append({"event_id": f"act-{i}-2", "ts": ts[3], "type": "call", "status": "no_answer",
                   "account_id": acct, "channel": "voice", "contact_point_id": "m1"})
    return [orjson.dumps(e) for e in events]
