"""The dataflow: Bytewax's testing tools in-process, then the real process on real Redis,
including a crash (SIGKILL) and a resume from the recovery store."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
from bytewax.testing import TestingSink, TestingSource, run_main

from connectors import keys as K
from connectors.store import log_json
from connectors.store.log import TIMERS_PER_POLL, LogItem, LogReader
from engine.flow.dataflow import build_flow
from engine.flow.source import IDLE_BACKOFF_S, _ShardGroupPartition
from engine.metrics import Metrics
from features.records import AccountRecord, DecisionRecord, Event, ExpireRecord
from models.contact import loads_data
from models.learner import Publication
from models.results import MEASURES
from tests.conftest import FlowProcess, account, wait_until

T0 = 1_772_463_600.0  # 2026-03-02T15:00:00Z


def item(record, entry=None):
    return LogItem(0, entry, T0, record)


def decision(
    decision_id: str, account_id: str, ts: float, channel: str = "sms", lease: bool = False
) -> DecisionRecord:
    return DecisionRecord(
        decision_id=decision_id,
        account_id=account_id,
        ts=ts,
        send_at=ts,
        deadline=ts + 3600,
        channel=channel,
        contact_point_id="m1",
        template="t1",
        model_version="m-000000",
        dpd_bucket="31_60",
        hour=9,
        x={f"ch={channel}": 1.0, f"ch={channel}|h=9": 1.0, "acct_hour": 0.0},
        lease=lease,
    )


def test_flow_steps_with_bytewax_testing_tools(settings):
    records = [
        item(AccountRecord("A", "America/Mexico_City", 45, 1500.0, ("m1",)), "1-0"),
        item(AccountRecord("B", "America/Bogota", 10, 300.0, ("m1",)), "1-1"),
        item(decision("d-000-aaaaaaaaaaaa", "A", T0), "2-0"),
        item(decision("d-000-bbbbbbbbbbbb", "B", T0), "2-1"),
        item(
            Event(
                "e1", T0 + 60, "message", "A", decision_id="d-000-aaaaaaaaaaaa", channel="sms", status="read"
            ),
            "3-0",
        ),
        item(Event("e2", T0 + 120, "promise", "A", amount=500.0, due_date="2026-03-05"), "3-1"),
        item(ExpireRecord("d-000-aaaaaaaaaaaa", "A", T0 + 3600)),
        item(ExpireRecord("d-000-bbbbbbbbbbbb", "B", T0 + 3600)),
    ]
    writes, models, report = [], [], []
    metrics = Metrics()
    flow = build_flow(
        settings,
        "redis://unused",
        metrics,
        source=TestingSource(records),
        feature_sink=TestingSink(writes),
        model_sink=TestingSink(models),
        queue_sink=TestingSink([]),
        results_sink=TestingSink(report),
    )
    run_main(flow)
    # the results report's last totals of each cell: two contacts, A's read and promise
    cells = {}
    for totals in report:
        cells.update({(totals.day, f): v for f, v in totals.cells.items()})
    summed = [sum(v[i] for v in cells.values()) for i in range(len(MEASURES))]
    assert dict(zip(MEASURES, summed, strict=True)) | {"cost": 0.0} == {
        **dict.fromkeys(MEASURES, 0.0),
        "contacts": 2.0,
        "deliveries": 1.0,
        "engaged": 1.0,
        "promises": 1.0,
        "promised": 500.0,
    }
    last = {w.account_id: w.features for w in writes if w.features is not None}
    assert last["A"].events_applied == 2  # two events applied to A
    assert last["A"].channels["sms"][1] > 0  # a response on sms
    assert "B" in last and last["B"].events_applied == 0
    assert {w.entry_id for w in writes} >= {"3-0", "3-1"}
    published = [m for m in models if isinstance(m, Publication)]
    assert len(published) == 1  # no progress markers in this input: everything is learned at its end
    learned = loads_data(published[-1].data)
    # A: response and pay positives; B: its window closed with no response, one negative
    # (the pay head learns only from contacts that got a response); each contact teaches the
    # opt-out risk too (neither ended in one)
    assert published[-1].examples_learned == 5 and learned["updates"] == 5
    assert learned["optout"] == [["sms", -1, 2.0, 0.0], ["sms", 0, 2.0, 0.0]]
    assert learned["cells"] == {"sms|9": 2}
    samples = {
        s.labels["model"]: s.value
        for s in metrics.model_updates.collect()[0].samples
        if s.name.endswith("_total")
    }
    assert samples == {"response": 2.0, "pay": 1.0, "optout": 2.0, "templates": 2.0}


def test_a_lease_the_dialer_never_reported_teaches_nothing_and_is_no_attempt(settings):
    """A dialed lead (a no-answer reported) is a negative; a lead never reported lapses: no
    example, and its attempt is taken back from the account's features."""
    records = [
        item(AccountRecord("A", "America/Mexico_City", 45, 1500.0, ("m1",)), "1-0"),
        item(AccountRecord("B", "America/Mexico_City", 45, 1500.0, ("m1",)), "1-1"),
        item(decision("d-000-aaaaaaaaaaaa", "A", T0, "voice", lease=True), "2-0"),
        item(decision("d-000-bbbbbbbbbbbb", "B", T0, "voice", lease=True), "2-1"),
        item(
            Event("e1", T0 + 60, "call", "B", decision_id="d-000-bbbbbbbbbbbb", channel="voice",
                  contact_point_id="m1", status="no_answer"),
            "3-0",
        ),
        item(ExpireRecord("d-000-aaaaaaaaaaaa", "A", T0 + 3600)),
        item(ExpireRecord("d-000-bbbbbbbbbbbb", "B", T0 + 3600)),
    ]
    writes, models = [], []
    flow = build_flow(
        settings,
        "redis://unused",
        Metrics(),
        source=TestingSource(records),
        feature_sink=TestingSink(writes),
        model_sink=TestingSink(models),
        queue_sink=TestingSink([]),
        results_sink=TestingSink([]),
    )
    run_main(flow)
    last = {w.account_id: w.features for w in writes if w.features is not None}
    assert last["A"].channels["voice"][0] == pytest.approx(0.0, abs=1e-9)  # the lapsed lease: undone
    assert last["A"].points["m1"][0] == pytest.approx(0.0, abs=1e-9)
    assert last["B"].channels["voice"][0] > 0.9  # the dialled one stays an attempt
    learned = loads_data([m for m in models if isinstance(m, Publication)][-1].data)
    assert learned["updates"] == 2  # B's no-answer: one negative, and its opt-out example; A: nothing
    assert learned["cells"] == {"voice|9": 1}


def _events_applied(api: httpx.Client, account_id: str) -> int:
    return api.get(f"/v1/accounts/{account_id}").json()["state"]["events_applied"]


def test_the_flow_process_updates_features_and_publishes_models(api, flow, redis_url):
    api.put("/v1/accounts", json=account())
    d = api.post(
        "/v1/decide", json={"account_id": "A-1001", "now": "2026-03-02T09:00:00-06:00", "channels": ["sms"]}
    ).json()
    api.post(
        "/v1/events",
        json=[
            {
                "event_id": "x1",
                "ts": "2026-03-02T09:01:00-06:00",
                "type": "message",
                "status": "delivered",
                "account_id": "A-1001",
                "decision_id": d["decision_id"],
                "channel": "sms",
            },
            {
                "event_id": "x2",
                "ts": "2026-03-02T09:20:00-06:00",
                "type": "reply",
                "text": "ok",
                "account_id": "A-1001",
                "decision_id": d["decision_id"],
                "channel": "sms",
            },
            # a later event time closes the response window (6 h after send_at): the model learns
            {
                "event_id": "x3",
                "ts": "2026-03-03T09:00:00-06:00",
                "type": "message",
                "status": "delivered",
                "account_id": "A-1001",
                "channel": "email",
            },
        ],
    )
    wait_until(lambda: _events_applied(api, "A-1001") == 3)
    state = api.get("/v1/accounts/A-1001").json()["state"]
    assert state["features_updated_at"] == "2026-03-03T15:00:00Z"
    assert state["features"]["hr"][9] > 0  # answered at 09:xx local
    client = redis.Redis.from_url(redis_url)
    version = wait_until(lambda: client.get(K.MODEL_VERSION))
    assert version.decode().startswith("m-")
    client.close()


def test_crash_and_resume_counts_every_event_once(api, config_path, redis_url, tmp_path):
    accounts = [account(f"C-{i}") for i in range(20)]
    api.put("/v1/accounts", json=accounts)

    def post_batch(start: int, n: int, fresh: bool = True) -> None:
        events = [
            {
                "event_id": f"ev-{j}",
                "ts": f"2026-03-02T{9 + j % 10:02d}:00:00-06:00",
                "type": "message",
                "status": "delivered",
                "account_id": f"C-{j % 20}",
                "channel": "sms",
            }
            for j in range(start, start + n)
        ]
        assert api.post("/v1/events", json=events).json() == (
            {"accepted": n, "duplicates": 0} if fresh else {"accepted": 0, "duplicates": n}
        )

    process = FlowProcess(config_path, redis_url, state_dir=tmp_path / "flow-state").start()
    try:
        post_batch(0, 400)
        wait_until(lambda: sum(_events_applied(api, f"C-{i}") for i in range(20)) > 0)
        time.sleep(0.6)  # let at least one snapshot (epoch 0.5 s) happen
        post_batch(400, 400)
        process.kill()  # SIGKILL: no chance to flush anything
        post_batch(800, 400)
        post_batch(0, 400, fresh=False)  # retried deliveries: duplicates, never applied twice
        process = FlowProcess(config_path, redis_url, state_dir=tmp_path / "flow-state").start()
        wait_until(lambda: all(_events_applied(api, f"C-{i}") == 60 for i in range(20)), timeout_s=40)
    finally:
        process.stop()


def test_one_source_partition_per_shard_also_applies_everything(api, config_path, redis_url, tmp_path):
    """The layout Redis Cluster needs (no XREAD across slots): every shard its own partition."""
    per_shard = tmp_path / "per-shard.toml"
    per_shard.write_text(config_path.read_text().replace("[flow]", "[flow]\nsource_partitions = 16"))
    api.put("/v1/accounts", json=[account(f"P-{i}") for i in range(32)])
    events = [
        {
            "event_id": f"p-{j}",
            "ts": "2026-03-02T10:00:00-06:00",
            "type": "reply",
            "text": "ok",
            "account_id": f"P-{j % 32}",
            "channel": "sms",
        }
        for j in range(320)
    ]
    assert api.post("/v1/events", json=events).json()["accepted"] == 320
    process = FlowProcess(per_shard, redis_url).start()
    try:
        wait_until(lambda: all(_events_applied(api, f"P-{i}") == 10 for i in range(32)))
    finally:
        process.stop()


def test_due_timers_are_read_in_bounded_steps_each_exactly_once(redis_url, settings):
    """After event time jumps, thousands of attribution windows close at once: the reader
    reads them TIMERS_PER_POLL at a time (no long command holding Redis), earliest first, none
    lost or repeated, and not the one not yet due. Reading leaves them in Redis (a resume from
    an earlier snapshot reads them again); they go once no snapshot can need them."""
    client = redis.Redis.from_url(redis_url)
    keys = K.Keys(settings.redis.shards)
    due = 2 * TIMERS_PER_POLL + 17
    client.zadd(keys.timers(0), {f"d-{i:05d}|A-{i}": T0 + i for i in range(due)})
    client.zadd(keys.timers(0), {"d-later|A-x": T0 + 10 * 86400})
    for n, acct in enumerate(("A-1", "A-2")):  # two accounts: one alone moves no watermark
        event = Event(f"e-{n}", T0 + 86400, "message", acct, status="sent")
        client.xadd(keys.log(0), {"r": log_json(event)})
    reader = LogReader(client, keys, [0])
    polls, drained = [], []
    for _poll in range(5):
        polls.append([i.record for i in reader.read() if isinstance(i.record, ExpireRecord)])
        drained.append(reader.drained)
    # the first read brings the events that make them due; they come from the next poll on
    assert [len(p) for p in polls] == [0, TIMERS_PER_POLL, TIMERS_PER_POLL, 17, 0]
    assert drained == [True, False, False, True, True]
    read = [r.decision_id for p in polls for r in p]
    assert read == [f"d-{i:05d}" for i in range(due)]
    assert client.zcard(keys.timers(0)) == due + 1
    reader.trim_timers({0: reader.time[0].timers_at})
    assert client.zcard(keys.timers(0)) == 2  # the last one read stays (the read position), and the later one
    client.close()


def test_an_unreadable_log_entry_is_skipped_and_the_rest_read(redis_url, settings):
    """A poison entry (a balance JSON could not carry, a foreign writer) must not stop the
    dataflow: it is counted and skipped, and the entries after it are read."""
    client = redis.Redis.from_url(redis_url)
    keys = K.Keys(settings.redis.shards)
    client.xadd(keys.log(0), {"r": b'{"k":"account","acc":1.0,"account_id":"A-1","balance":null}'})
    client.xadd(keys.log(0), {"r": b"not json"})
    client.xadd(keys.log(0), {"r": log_json(Event("e-ok", T0, "message", "A-1", status="sent"))})
    reader = LogReader(client, keys, [0])
    records = [i.record for i in reader.read()]
    assert [r.event_id for r in records if isinstance(r, Event)] == ["e-ok"]
    assert reader.unreadable == 2
    assert reader.read() == []  # the position moved past all three
    client.close()


def test_entries_no_step_applies_at_a_logs_end_still_move_its_offset(api, flow, redis_url, settings):
    """A wait (logged for the timeline alone) or an unreadable entry as a shard's newest entry:
    the dataflow's offset passes it, so /readyz's lag goes back to 0 (it grew for ever)."""
    api.put("/v1/accounts", json=account())
    body = {"account_id": "A-1001", "now": "2026-03-02T10:00:00-06:00", "channels": ["sms"]}
    assert api.post("/v1/decide", json=body).json()["action"] == "contact"
    assert api.post("/v1/decide", json=body).json()["action"] == "wait"  # logged after the decision
    wait_until(lambda: api.get("/readyz").json()["flow_lag_s"] == 0.0, timeout_s=20)
    client = redis.Redis.from_url(redis_url)
    client.xadd(K.Keys(settings.redis.shards).log(3), {"r": b"not json"})
    client.close()
    wait_until(lambda: api.get("/readyz").json()["flow_lag_s"] == 0.0, timeout_s=20)


def test_the_source_reads_again_at_once_while_behind_and_lingers_once_drained(redis_url, settings):
    client = redis.Redis.from_url(redis_url)
    keys = K.Keys(settings.redis.shards)
    for i in range(6):
        client.xadd(keys.log(0), {"r": log_json(Event(f"e-{i}", T0 + i, "message", "A-1", status="sent"))})
    part = _ShardGroupPartition(LogReader(client, keys, [0], batch=4), linger_s=0.5)
    assert len(part.next_batch()) == 4
    assert part.next_awake() is None  # a full read: more is waiting
    before = datetime.now(UTC)
    assert len(part.next_batch()) == 2
    awake = part.next_awake()  # drained: the next read waits for records to gather
    assert awake is not None
    assert before + timedelta(seconds=0.4) < awake <= datetime.now(UTC) + timedelta(seconds=0.5)
    assert part.next_batch() == []
    awake = part.next_awake()
    assert awake is not None and awake <= datetime.now(UTC) + timedelta(seconds=IDLE_BACKOFF_S[0])
    no_linger = _ShardGroupPartition(LogReader(client, keys, [0]), linger_s=0.0)
    assert len(no_linger.next_batch()) == 6
    assert no_linger.next_awake() is None
    client.close()


def _expired_after(reader: LogReader, polls: int = 3) -> list[str]:
    out = []
    for _ in range(polls):
        out += [i.record.decision_id for i in reader.read() if isinstance(i.record, ExpireRecord)]
    return out


def test_one_future_dated_record_closes_no_other_accounts_window(redis_url, settings):
    """The watermark is the second most advanced account's time: one record a month ahead
    (a client's bad clock) moves its own account, and nobody else's window closes."""
    client = redis.Redis.from_url(redis_url)
    keys = K.Keys(settings.redis.shards)
    client.zadd(keys.timers(0), {"d-a|A-1": T0 + 3600})
    for n, (acct, ts) in enumerate((("A-1", T0), ("A-2", T0), ("A-3", T0 + 30 * 86400))):
        client.xadd(keys.log(0), {"r": log_json(Event(f"e-{n}", ts, "message", acct, status="sent"))})
    reader = LogReader(client, keys, [0], allowed_lateness_s=0.0, reorder_s=0.0)
    assert _expired_after(reader) == []  # A-3 alone is a month ahead; the shard is still at T0
    client.xadd(keys.log(0), {"r": log_json(Event("e-9", T0 + 7200, "message", "A-2", status="sent"))})
    assert _expired_after(reader) == ["d-a"]  # a second account got there: the window closes
    client.close()


def test_in_wall_mode_an_idle_shard_follows_the_servers_clock(redis_url, settings):
    """A shard whose log is drained is idle, not behind: in wall mode its windows close by the
    server's clock; in data mode only its own records (or POST /v1/clock) move it."""
    client = redis.Redis.from_url(redis_url)
    keys = K.Keys(settings.redis.shards)
    old = time.time() - 86400
    client.zadd(keys.timers(0), {"d-w|A-1": old + 3600})
    client.xadd(keys.log(0), {"r": log_json(Event("e-0", old, "message", "A-1", status="sent"))})
    data_mode = LogReader(client, keys, [0], allowed_lateness_s=0.0, reorder_s=0.0, wall_clock=False)
    assert _expired_after(data_mode) == []
    wall_mode = LogReader(client, keys, [0], allowed_lateness_s=0.0, reorder_s=0.0, wall_clock=True)
    assert _expired_after(wall_mode) == ["d-w"]
    client.close()
