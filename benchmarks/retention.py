"""Redis bytes per account after months of activity: `python -m benchmarks.retention`.

A portfolio (the demo's accounts) gets a contact a day for `--days` simulated days through
the HTTP contract (a decide each morning, the contact's delivery and read, a reply from some),
with the dataflow running, in data mode. Measured: MEMORY USAGE of every key of a sample of
accounts (the account hash, its contacts, seen ids, timeline, and its decisions' hashes),
fresh and after the run, next to the goals of issue 15 (1.5 KiB fresh, 4 KiB after 90 days).
Redis expires keys by its own clock, and the run packs 90 days into minutes: a decision's
hash is counted only while the expiry it was given, counted from the decision's simulated
time, lies beyond the run's last simulated day (what a real 90 days would have kept).
The shards' event logs grow per event, not per account (`[redis] log_maxlen`), and are
reported apart, as is the timelines' archive (on disk, not in Redis: connectors/archive.py).
Results in benchmarks/results/retention.json.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import redis

from benchmarks.faults import Client, Engine
from benchmarks.procs import ROOT
from connectors import keys as K
from connectors.archive import archived_total
from engine.process.demo import account_doc, make_portfolio

RESULTS = ROOT / "benchmarks" / "results" / "retention.json"
START = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("America/Mexico_City"))
GOALS = {"fresh": 1536, "after": 4096}


def alive_at(r: redis.Redis, key: str, written_at: float, end: float, elapsed_s: float) -> bool:
    """Whether `key`, written at simulated time `written_at`, would still exist at simulated
    time `end` had the run taken real time: its remaining TTL plus the wall time the run has
    taken bounds the TTL it was given."""
    pttl = int(r.pttl(key))
    if pttl == -2:
        return False
    return pttl == -1 or written_at + pttl / 1000 + elapsed_s > end


def account_bytes(
    r: redis.Redis, keys: K.Keys, account_id: str, end: float = float("inf"), elapsed_s: float = 0.0
) -> dict[str, int]:
    acct = keys.account(account_id)
    out = {}
    for name, key in (
        ("account", acct),
        ("contacts", acct + K.CONTACTS),
        ("seen_ids", acct + K.SEEN_WINDOW),
        ("timeline", acct + K.TIMELINE),
    ):
        out[name] = int(r.memory_usage(key, samples=0) or 0)
    members = r.zrange(acct + K.CONTACTS, 0, -1, withscores=True)
    decisions = []
    for member, contact_at in members:
        decision = keys.decision(member.decode().split("|", 1)[0])
        if alive_at(r, decision, contact_at, end, elapsed_s):
            decisions.append(decision)
    out["decisions"] = sum(int(r.memory_usage(d, samples=0) or 0) for d in decisions)
    return out


def measure(
    r: redis.Redis, keys: K.Keys, sample: list[str], end: float = float("inf"), elapsed_s: float = 0.0
) -> dict[str, Any]:
    rows = [account_bytes(r, keys, a, end, elapsed_s) for a in sample]
    parts = {name: sum(row[name] for row in rows) / len(rows) for name in rows[0]}
    logs = sum(int(r.memory_usage(keys.log(s), samples=0) or 0) for s in range(keys.shards))
    return {
        "bytes_per_account": round(sum(parts.values())),
        "parts": {k: round(v) for k, v in parts.items()},
        "log_bytes": logs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=300)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cadencia-retention-"))
    engine = Engine(tmp)
    client = Client(engine)
    try:
        rng = random.Random(args.seed)
        debtors = make_portfolio(args.accounts, rng)
        client.call("PUT", "/v1/accounts", [account_doc(d, rng) for d in debtors])
        client.call("POST", "/v1/clock", {"now": START.isoformat()})
        client.caught_up()
        r = redis.Redis.from_url(engine.redis.url)
        keys = K.Keys(16)
        sample = [d.account_id for d in debtors[: min(100, len(debtors))]]
        fresh = measure(r, keys, sample)
        started = time.monotonic()
        counts: Counter[str] = Counter()
        for day in range(args.days):
            morning = START + timedelta(days=day)
            answers = client.call(
                "POST",
                "/v1/decide",
                [
                    {
                        "account_id": d.account_id,
                        "now": morning.isoformat(),
                        "horizon_hours": 10,
                        "channels": ["sms", "whatsapp", "email"],
                    }
                    for d in debtors
                ],
            )
            events = []
            for a in answers:
                counts[a["action"]] += 1
                if a["action"] != "contact":
                    continue
                sent = datetime.fromisoformat(a["send_at"])
                base = {
                    "account_id": a["account_id"],
                    "decision_id": a["decision_id"],
                    "channel": a["channel"],
                }
                events.append(
                    {
                        **base,
                        "event_id": f"{a['decision_id']}-d",
                        "type": "message",
                        "status": "delivered",
                        "ts": (sent + timedelta(minutes=1)).isoformat(),
                    }
                )
                events.append(
                    {
                        **base,
                        "event_id": f"{a['decision_id']}-r",
                        "type": "message",
                        "status": "read",
                        "ts": (sent + timedelta(minutes=9)).isoformat(),
                    }
                )
                if rng.random() < 0.1:
                    events.append(
                        {
                            **base,
                            "event_id": f"{a['decision_id']}-y",
                            "type": "reply",
                            "text": "ok",
                            "ts": (sent + timedelta(minutes=20)).isoformat(),
                        }
                    )
            for i in range(0, len(events), 900):
                client.call("POST", "/v1/events", events[i : i + 900])
            counts["events"] += len(events)
            client.call("POST", "/v1/clock", {"now": (morning + timedelta(days=1)).isoformat()})
        client.caught_up()
        end = (START + timedelta(days=args.days)).timestamp()
        after = measure(r, keys, sample, end, time.monotonic() - started)
        archive = tmp / "archive"
        for path in archive.glob("*.sqlite3"):  # what the write-ahead logs hold, into the files
            with sqlite3.connect(path) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        disk = sum(p.stat().st_size for p in archive.glob("*.sqlite3"))
        after["archive_disk_bytes_per_account"] = round(disk / args.accounts)
        after["archived_entries"] = archived_total(archive, range(keys.shards))
        r.close()
        doc = {
            "world": {"accounts": args.accounts, "days": args.days, "seed": args.seed},
            "activity": dict(counts),
            "fresh": fresh,
            "after": after,
            "goals": GOALS,
            "ratio_to_goal": {
                "fresh": round(fresh["bytes_per_account"] / GOALS["fresh"], 2),
                "after": round(after["bytes_per_account"] / GOALS["after"], 2),
            },
        }
        RESULTS.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"activity: {dict(counts)}")
        print(f"fresh: {fresh['bytes_per_account']} bytes/account (goal {GOALS['fresh']}) {fresh['parts']}")
        print(
            f"after {args.days} days: {after['bytes_per_account']} bytes/account (goal {GOALS['after']}) "
            f"{after['parts']}; event logs {after['log_bytes'] / 1e6:.1f} MB in all; archive "
            f"{after['archived_entries']} entries, "
            f"{after['archive_disk_bytes_per_account']} bytes/account on disk"
        )
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    except BaseException:
        dbg = redis.Redis.from_url(engine.redis.url)
        print("frontier", {k.decode(): v.decode() for k, v in dbg.hgetall(K.FLOW_FRONTIER).items()})
        for sh in range(16):
            first = dbg.zrange(K.Keys(16).timers(sh), 0, 2, withscores=True)
            print("timers", sh, dbg.zcard(K.Keys(16).timers(sh)), first, dbg.xlen(K.Keys(16).log(sh)))
        print("offsets", dbg.hgetall(K.FLOW_OFFSETS))
        engine.stop()
        print(f"logs kept in {tmp / 'logs'}")
        raise
    engine.stop()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
