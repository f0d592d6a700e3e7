"""Timelines out of Redis: the archive the dataflow writes (connectors/archive.py), the log's
tail past its frontier, and what Redis keeps per account."""

from __future__ import annotations

import httpx
import orjson
import redis

from connectors import keys as K
from connectors.archive import ArchiveWriter, archived_total, read_account
from connectors.store import RedisStore, log_json
from connectors.store.log import LogReader
from engine.api.app import build_app
from features.records import DecisionRecord, Event
from models.eventtime import ShardTime
from tests.conftest import FlowProcess, LiveServer, account, wait_until

NOW = "2026-03-02T09:00:00-06:00"
T0 = 1_772_463_600.0


def test_an_entry_is_archived_once_and_the_frontier_never_moves_back(tmp_path):
    archive = ArchiveWriter(tmp_path, retention_s=400 * 86400)
    archive.append(3, [("A-1", "100-0", b'{"k":"e"}'), ("A-2", "100-1", b'{"k":"d"}')], "100-1")
    archive.append(3, [("A-1", "100-0", b'{"k":"e"}')], "100-0")  # a replay after a crash
    assert read_account(tmp_path, 3, "A-1") == ([], None)  # held for FLUSH_S; the log's tail shows them
    archive.flush()
    assert read_account(tmp_path, 3, "A-1") == ([b'{"k":"e"}'], "100-1")
    assert read_account(tmp_path, 4, "A-1") == ([], None)  # a shard never archived
    assert archived_total(tmp_path, range(16)) == 2
    archive.close()


def test_the_archive_drops_what_is_older_than_retention(tmp_path):
    archive = ArchiveWriter(tmp_path, retention_s=3600)
    archive.append(0, [("A", "1000-0", b"old")], "1000-0")
    archive.flush()
    later = 1000 + 2 * 3_600_000
    archive.append(0, [("A", f"{later}-0", b"new")], f"{later}-0")
    archive.flush()
    assert read_account(tmp_path, 0, "A") == ([b"new"], f"{later}-0")
    archive.close()


def test_a_reader_archives_again_what_a_lost_commit_left_behind(redis_url, settings, tmp_path):
    """A power cut may lose the archive's last commits (synchronous=NORMAL) after the dataflow
    snapshotted past them: the reader archives the gap from the log when it starts."""
    client = redis.Redis.from_url(redis_url)
    keys = K.Keys(settings.redis.shards)
    events = [Event(f"e-{i}", T0 + i, "message", "A-1", status="sent") for i in range(3)]
    ids = [client.xadd(keys.log(0), {"r": log_json(e)}).decode() for e in events]
    archive = ArchiveWriter(tmp_path, retention_s=400 * 86400)
    archive.append(0, [("A-1", ids[0], b"first")], ids[0])
    archive.flush()  # what survived
    LogReader(client, keys, [0], {0: (ids[2], ShardTime())}, archive=archive)  # resumes after all three
    records, frontier = read_account(tmp_path, 0, "A-1")
    assert frontier == ids[2]
    assert [orjson.loads(r)["event_id"] for r in records[1:]] == ["e-1", "e-2"]
    archive.close()
    client.close()


def test_the_dataflow_archives_timelines_and_redis_keeps_none(config_path, redis_url, settings, metrics):
    """Decisions (without their model inputs), waits and events reach the archive; the
    timeline is the archive, then the log past its frontier: complete while the dataflow is
    down, and no entry twice once it has caught up."""
    flow = FlowProcess(config_path, redis_url).start()
    store = RedisStore.from_url(redis_url, settings.redis.shards)
    app = build_app(settings, store, metrics, archive=flow.archive_dir)
    keys = K.Keys(settings.redis.shards)
    shard = keys.shard("A-1001")
    client = redis.Redis.from_url(redis_url)
    try:
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as api:
            api.put("/v1/accounts", json=account())
            d = api.post("/v1/decide", json={"account_id": "A-1001", "now": NOW, "channels": ["sms"]}).json()
            assert d["action"] == "contact"
            ask = {"account_id": "A-1001", "now": NOW, "channels": ["sms"]}
            assert api.post("/v1/decide", json=ask).json()["action"] == "wait"  # the reservation holds
            event = {"event_id": "e-1", "ts": NOW, "type": "message", "status": "delivered",
                     "account_id": "A-1001", "decision_id": d["decision_id"], "channel": "sms"}
            assert api.post("/v1/events", json=event).status_code == 202
            wait_until(lambda: len(read_account(flow.archive_dir, shard, "A-1001")[0]) == 3)
            archived = [orjson.loads(r) for r in read_account(flow.archive_dir, shard, "A-1001")[0]]
            assert [r["k"] for r in archived] == ["d", "w", "e"]
            assert "x" not in archived[0] and archived[0]["decision_id"] == d["decision_id"]
            assert not client.exists(keys.timeline("A-1001"))
            held = client.hgetall(keys.decision(d["decision_id"]))
            assert set(held) == {b"account", b"member", b"state", b"made"}  # the timeline has the rest

            def kinds():
                body = api.get("/v1/accounts/A-1001/timeline").json()
                assert body["complete"] is True
                return [(e["kind"], e.get("action"), e.get("event_id")) for e in body["entries"]]

            expected = [("decision", None, None), ("decision", "wait", None), ("event", None, "e-1")]
            assert kinds() == expected
            flow.stop()  # the tail past the archive's frontier is read from the log
            late = {**event, "event_id": "e-2", "status": "read"}
            assert api.post("/v1/events", json=late).status_code == 202
            assert kinds() == [*expected, ("event", None, "e-2")]
            flow = FlowProcess(config_path, redis_url, flow.state_dir, flow.archive_dir).start()
            wait_until(lambda: len(read_account(flow.archive_dir, shard, "A-1001")[0]) == 4)
            assert kinds() == [*expected, ("event", None, "e-2")]
    finally:
        flow.stop()
        client.close()


def test_entries_of_the_timelines_before_the_archive_are_shown_once(api, redis_url, settings):
    """A version before the archive kept timelines in `:t` streams; the entries also in the
    log (the first archiving dataflow resumed before them) are shown once."""
    api.put("/v1/accounts", json=account())
    keys = K.Keys(settings.redis.shards)
    client = redis.Redis.from_url(redis_url)
    old = Event("e-old", T0 - 60, "message", "A-1001", status="delivered")
    both = Event("e-both", T0, "message", "A-1001", status="read")
    for e in (old, both):
        client.xadd(keys.timeline("A-1001"), {"r": log_json(e)})
    client.xadd(keys.log(keys.shard("A-1001")), {"r": log_json(both)})
    client.close()
    body = api.get("/v1/accounts/A-1001/timeline").json()
    assert [e["event_id"] for e in body["entries"]] == ["e-old", "e-both"]


def test_a_decision_on_the_log_shows_without_its_model_inputs(api, redis_url, settings):
    api.put("/v1/accounts", json=account())
    record = DecisionRecord(
        decision_id="d-000-aaaaaaaaaaaa", account_id="A-1001", ts=T0, send_at=T0, deadline=T0 + 86400,
        channel="sms", contact_point_id="m1", template="t", model_version="m-0", dpd_bucket="31_60",
        hour=9, x={"secret": 1.0},
    )
    keys = K.Keys(settings.redis.shards)
    client = redis.Redis.from_url(redis_url)
    client.xadd(keys.log(keys.shard("A-1001")), {"r": log_json(record)})
    client.close()
    (entry,) = api.get("/v1/accounts/A-1001/timeline").json()["entries"]
    assert entry["decision_id"] == "d-000-aaaaaaaaaaaa" and "x" not in entry
