"""The embedded demo: a small simulated portfolio driven through the HTTP contract, as a
planner and a gateway would, so `cadencia run` shows decisions changing as outcomes arrive.

Each debtor has hidden traits the engine never sees: the channel they answer, the local hour
they are active, how willing they are to promise. Every simulated morning the planner asks
for the day's decisions in one batch; the world answers each contact at its `send_at`; the
outcomes go back as events in time order; the engine learns; the next morning it decides again.
"""

from __future__ import annotations

import http.client
import math
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import orjson

COUNTRIES = (
    ("MX", "America/Mexico_City", "MXN", 0.6),
    ("CO", "America/Bogota", "COP", 0.25),
    ("US", "America/New_York", "USD", 0.15),
)
CHANNELS = ("whatsapp", "sms", "email", "voice")
ACTIVE_HOURS = (9, 13, 19)


@dataclass(frozen=True)
class Debtor:
    account_id: str
    timezone: str
    balance: float
    currency: str
    channel: str  # the channel this debtor answers
    active_hour: int  # local hour they answer most
    willingness: float  # chance a response becomes a promise


class Http:
    def __init__(self, base_url: str) -> None:
        u = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def call(self, method: str, path: str, body: Any = None, ndjson: bool = False) -> Any:
        if ndjson:
            data = b"\n".join(orjson.dumps(x) for x in body)
            headers = {"Content-Type": "application/x-ndjson"}
        else:
            data = None if body is None else orjson.dumps(body)
            headers = {"Content-Type": "application/json"}
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        if resp.status >= 400 and resp.status != 503:
            raise RuntimeError(f"{method} {path}: {resp.status} {payload[:300]!r}")
        return orjson.loads(payload) if payload else None


def make_portfolio(n: int, rng: random.Random) -> list[Debtor]:
    debtors = []
    for i in range(n):
        _country, tz, currency, _share = rng.choices(COUNTRIES, [c[3] for c in COUNTRIES])[0]
        rate = {"MXN": 1.0, "COP": 230.0, "USD": 0.057}[currency]
        debtors.append(
            Debtor(
                f"D-{i:05d}",
                tz,
                round(rng.uniform(800, 12000) * rate, 2),
                currency,
                rng.choices(CHANNELS, (0.45, 0.2, 0.2, 0.15))[0],
                rng.choice(ACTIVE_HOURS),
                rng.uniform(0.2, 0.6),
            )
        )
    return debtors


def account_doc(d: Debtor, rng: random.Random) -> dict[str, Any]:
    country = {"America/Mexico_City": "MX", "America/Bogota": "CO", "America/New_York": "US"}[d.timezone]
    return {
        "account_id": d.account_id,
        "portfolio": "cards",
        "product": "credit_card",
        "balance": d.balance,
        "currency": d.currency,
        "days_past_due": rng.randint(5, 80),
        "country": country,
        "timezone": d.timezone,
        "contact_points": [
            {
                "id": "m1",
                "type": "mobile",
                "address": f"+52155{rng.randrange(10**8):08d}",
                "channels": ["voice", "sms", "whatsapp"],
            },
            {
                "id": "e1",
                "type": "email",
                "address": f"{d.account_id.lower()}@example.com",
                "channels": ["email"],
            },
        ],
    }


def response_chance(d: Debtor, channel: str, local_hour: int) -> float:
    near = math.exp(-((local_hour - d.active_hour) ** 2) / 4.5)
    return (0.55 if channel == d.channel else 0.04) * (0.15 + 0.85 * near)


def outcomes(
    d: Debtor, decision: dict[str, Any], rng: random.Random, seq: Counter[str]
) -> list[dict[str, Any]]:
    """What the world does with one contact: events with their timestamps."""
    send = datetime.fromisoformat(decision["send_at"])
    channel = decision["channel"]
    base = {
        "account_id": d.account_id,
        "decision_id": decision["decision_id"],
        "channel": channel,
        "contact_point_id": decision["contact_point_id"],
    }

    def event(kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
        seq["n"] += 1
        return {"event_id": f"sim-{seq['n']}", "type": kind, "ts": at.isoformat(), **base, **fields}

    responded = rng.random() < response_chance(d, channel, send.hour)
    out = []
    if channel == "voice":
        out.append(
            event(
                "call",
                send + timedelta(minutes=1),
                status="answered" if responded else "no_answer",
                **({"party": "right_party", "duration_s": 140} if responded else {}),
            )
        )
    else:
        out.append(event("message", send + timedelta(minutes=1), status="delivered"))
        if responded:
            out.append(event("message", send + timedelta(minutes=9), status="read"))
    if responded and rng.random() < d.willingness:
        due = (send + timedelta(days=3)).date().isoformat()
        amount = round(d.balance * 0.3, 2)
        out.append(event("promise", send + timedelta(minutes=15), amount=amount, due_date=due))
        if rng.random() < 0.7:
            out.append(event("payment", send + timedelta(days=3, hours=2), amount=amount))
    return out


def wait_for_flow(client: Http, timeout_s: float = 30.0) -> None:
    """Until the dataflow has learned from everything posted and the API serves its model."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.call("GET", "/readyz").get("caught_up"):
            return
        time.sleep(0.05)


def run_demo(base_url: str, days: int = 6, accounts: int = 300, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    client = Http(base_url)
    debtors = make_portfolio(accounts, rng)
    by_id = {d.account_id: d for d in debtors}
    client.call("PUT", "/v1/accounts", [account_doc(d, rng) for d in debtors])
    print(f"\nloaded {accounts} demo accounts; simulating {days} days of decisions and outcomes\n")
    print(
        "day  contacts  waits  by channel                              answered  promises  "
        "paid    at debtor's hour  right channel  model"
    )
    start = datetime(2026, 3, 2, 8, 0, tzinfo=ZoneInfo("America/Mexico_City"))
    future: list[dict[str, Any]] = []
    seq: Counter[str] = Counter()
    report = []
    for day in range(days):
        morning = start + timedelta(days=day)
        answers = client.call(
            "POST",
            "/v1/decide",
            [{"account_id": d.account_id, "now": morning.isoformat(), "horizon_hours": 14} for d in debtors],
        )
        contacts = [a for a in answers if a["action"] == "contact"]
        events = [e for a in contacts for e in outcomes(by_id[a["account_id"]], a, rng, seq)]
        horizon = morning + timedelta(days=1)
        due = sorted(future + events, key=lambda e: e["ts"])
        today = [e for e in due if datetime.fromisoformat(e["ts"]) < horizon]
        future = [e for e in due if datetime.fromisoformat(e["ts"]) >= horizon]
        for i in range(0, len(today), 500):
            client.call("POST", "/v1/events", today[i : i + 500], ndjson=True)
        client.call("POST", "/v1/clock", {"now": horizon.isoformat()})  # the day is over, everywhere
        wait_for_flow(client)
        kinds = Counter(e["type"] for e in today)
        read = sum(1 for e in today if e.get("status") in ("read", "answered"))
        at_hour = sum(
            1
            for a in contacts
            if abs(datetime.fromisoformat(a["send_at"]).hour - by_id[a["account_id"]].active_hour) <= 1
        )
        right = sum(1 for a in contacts if a["channel"] == by_id[a["account_id"]].channel)
        version = contacts[-1]["model_version"] if contacts else "-"
        row = {
            "day": day + 1,
            "contacts": len(contacts),
            "waits": len(answers) - len(contacts),
            "channels": dict(Counter(a["channel"] for a in contacts)),
            "answered": read,
            "promises": kinds["promise"],
            "payments": kinds["payment"],
            "at_hour": at_hour / max(1, len(contacts)),
            "right_channel": right / max(1, len(contacts)),
            "model_version": version,
        }
        report.append(row)
        channels = " ".join(f"{c}={n}" for c, n in sorted(row["channels"].items()))
        print(
            f"{day + 1:>3}  {row['contacts']:>8}  {row['waits']:>5}  {channels:<38}  {read:>8}  "
            f"{row['promises']:>8}  {row['payments']:>4}    {row['at_hour']:>15.0%}  "
            f"{row['right_channel']:>13.0%}  {version}"
        )
    sample = client.call("GET", f"/v1/accounts/{debtors[0].account_id}")
    state = sample["state"]
    print(
        f"\naccount {debtors[0].account_id}: {state['events_applied']} events applied, "
        f"features as of {state['features_updated_at']}, promise {state['promise']}"
    )
    print(
        f"(the demo world's debtors answer on one channel, near one local hour; cadencia is told neither: "
        f"the last two columns show it finding them. Started {datetime.now(UTC):%H:%M:%S} UTC.)\n"
    )
    return report
