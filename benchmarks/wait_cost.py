"""What a capped account's wait costs against the horizon: `python -m benchmarks.wait_cost`.

The worst case for the rules: a weekly cap already used (`[policy.caps] contacts_per_week =
1`, a contact on Monday), asked on Tuesday morning, so that every permitted hour of every
channel in the horizon is held back and the whole grid is checked before the answer is a wait.
`plan_many` alone (pure: no Redis, no HTTP), median and p99 of `--reps` plans per horizon, in
this process, beside a fresh account's contact at the same horizon. Issue 15's goal: the cost
grows with the horizon no faster than linearly (it was quadratic: 1.8 ms at 1 h, 7.7 at 120 h).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec

from connectors.store import AccountRow
from engine.decisions.decide import Ask, plan_many
from engine.settings import DEFAULT_CONFIG, from_dict
from engine.wire import Account, ContactPoint, DecideRequest
from features.account import read
from models.contact import initial_scorer

TZ = "America/Mexico_City"
TUESDAY = datetime(2026, 3, 3, 8, 0, tzinfo=ZoneInfo(TZ))
HORIZONS = (1, 6, 24, 48, 72, 120, 168)


def settings_with_weekly_cap():
    import tomllib

    with open(DEFAULT_CONFIG, "rb") as f:
        raw = tomllib.load(f)
    raw.setdefault("policy", {})["caps"] = {"contacts_per_week": 1}
    return from_dict(raw)


def ask(horizon: int, capped: bool) -> Ask:
    points = (
        ContactPoint("m1", "mobile", "+5215512345678", ("voice", "ivr", "sms", "whatsapp"), "telcel"),
        ContactPoint("m2", "mobile", "+5215587654321", ("voice",), "movistar"),
        ContactPoint("e1", "email", "debtor@example.com", ("email",)),
    )
    account = Account("A-1", "cards", 4200.0, "MXN", 37, "MX", TZ, points)
    now = TUESDAY.timestamp()
    monday = (TUESDAY - timedelta(days=1, hours=-2)).timestamp()
    contacts = [(b"d-0|sms|m1", monday)] if capped else []
    row = AccountRow({b"doc": msgspec.json.encode(account), b"ver": b"1"}, contacts)
    req = DecideRequest("A-1", TUESDAY, horizon_hours=horizon)
    return Ask(req, account, row, read(None, now), now, now)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=300)
    args = ap.parse_args()
    settings, scorer = settings_with_weekly_cap(), initial_scorer()
    print("| horizon h | capped wait: median ms | p99 ms | fresh contact: median ms | answer (capped) |")
    print("|---|---|---|---|---|")
    for h in HORIZONS:
        row = []
        for capped in (True, False):
            a = ask(h, capped)
            plan_many([a], scorer, settings)  # warm the caches as a running API has them
            times = []
            for _ in range(args.reps):
                t = time.perf_counter()
                answer = plan_many([a], scorer, settings)[0]
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            row.append((statistics.median(times), times[int(0.99 * len(times)) - 1], type(answer).__name__))
        (cm, c99, kind), (fm, _f99, _) = row
        print(f"| {h} | {cm:.3f} | {c99:.3f} | {fm:.3f} | {kind} |")


if __name__ == "__main__":
    main()
