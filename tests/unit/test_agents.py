"""Issue 16: every agent driven in-process, as the composition root builds it (tests/agents_harness.py):
stage 2's order of changelog, outputs and RocksDB; a batch whose output the broker refuses; offset
continuity; the fan-out and a webhook lane's ledger; the aggregate stage's replays."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from alerts import delivery_lanes
from alerts.delivery import retry_tier
from streams import shell
from streams.core.pipeline import analyze_values
from streams.schema import AlertBatch, DeliveryTask, NewsItem, decode, encode
from tests.agents_harness import TP, Event, Harness, Message


class Aborted(BaseException):
    """Stands for the worker's exit (os._exit) so that a test sees it, and nothing after it runs."""


@pytest.fixture(autouse=True)
def _abort_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def abort(stage: str, reason: str) -> None:
        raise Aborted(f"{stage}: {reason}")
    monkeypatch.setattr(shell, "abort", abort)


STORIES = [
    ("Air defence intercepts drones over Kharkiv", "The regional governor said debris damaged two houses."),
    ("Germany to send a third Patriot missile battery", "The defence ministry in Berlin confirmed the delivery date."),
]


def analyzed_events(h: Harness, n: int = 2) -> list[Event]:
    items = [NewsItem(id=f"it-{i}", title=t, summary=s, lang="en", source=f"outlet-{i}", url=f"https://o{i}.example/{i}")
             for i, (t, s) in enumerate(STORIES[:n])]
    records, errors = analyze_values(h.w.config.taxonomy, [encode(i) for i in items])
    assert errors == []
    return [Event(Message("warwire.analyzed", 0, offset, lang.encode(), value))
            for offset, (lang, value) in enumerate(records)]


def alert_ids(h: Harness) -> list[str]:
    return [a.id for _, v, _ in h.topics.alerts.sent for a in decode(AlertBatch, v).alerts]


async def test_decide_writes_rocksdb_only_after_the_changelog_and_the_outputs(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    events = analyzed_events(h)
    await h.run("decide", events)
    ids = alert_ids(h)
    assert len(ids) == 2  # tracked-topics, one per story
    kinds = [e[:2] for e in h.journal]
    write = kinds.index(("write", "dedupe"))
    assert ("changelog", "dedupe") in kinds[:write] and ("send", "warwire.alerts") in kinds[:write]
    assert kinds.count(("write", "dedupe")) == 1  # one atomic WriteBatch for the batch
    # The store claims exactly the changelog records it wrote.
    assert h.tables.dedupe.stored(0, b"__faust\0offset__") == str(len(h.tables.dedupe.changelog) - 1).encode()
    # The same batch read again (a restart before faust committed): the same alerts, same ids.
    await h.run("decide", events)
    assert alert_ids(h) == ids + ids


async def test_a_batch_whose_output_the_broker_refuses_ends_the_worker_before_rocksdb(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.topics.alerts.fail = RuntimeError("NotEnoughReplicas")
    with pytest.raises(Aborted, match="decide: the broker did not take a batch's output: RuntimeError"):
        await h.run("decide", analyzed_events(h))
    assert ("write", "dedupe") not in [e[:2] for e in h.journal]
    assert h.tables.dedupe.stored(0, b"__faust\0offset__") is None


async def test_a_skipped_offset_ends_the_worker_before_the_record_is_handled(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.committed = {TP("warwire.analyzed", 0): 0}
    events = [Event(Message(e.message.topic, 0, e.message.offset + 2, e.message.key, e.message.value))
              for e in analyzed_events(h)]
    with pytest.raises(Aborted, match=r"faust skipped offsets 0 to 1 of warwire.analyzed\[0\]"):
        await h.run("decide", events)
    assert h.journal == []
    # From the committed offset on, in order: handled.
    h.committed = {TP("warwire.analyzed", 0): 2}
    await h.run("decide", events)
    assert len(alert_ids(h)) == 2


RULES = """
receivers:
  hook: {type: webhook, url_env: T_AGENT_HOOK}
rules:
  - {name: air, type: match, topics: [air-defence], realert: 1h, receivers: [hook]}
  - {name: air-wave, type: frequency, topics: [air-defence], window: 1h, threshold: 3, realert: 1h, receivers: [hook]}
"""


@pytest.fixture
def hook_rules(tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(RULES)
    monkeypatch.setenv("T_AGENT_HOOK", httpserver.url_for("/hook"))
    return rules


async def test_a_lane_stores_sending_before_the_post_and_posts_each_task_once(
        tmp_path: Path, hook_rules: Path, httpserver: HTTPServer) -> None:
    h = Harness(tmp_path, rules=hook_rules)
    assert "lane hook" in h.w.agents  # a lane of its own for the configured webhook

    def handler(request: Request) -> Response:
        h.journal.append(("post", request.headers["Idempotency-Key"]))
        return Response("ok")
    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)

    await h.run("decide", analyzed_events(h))
    await h.run("deliver", h.topics.alerts.events())
    tasks = [decode(DeliveryTask, v) for _, v, _ in h.topics.deliveries.sent]
    assert sorted(t.receiver for t in tasks) == ["hook", "hook"]
    first = h.topics.deliveries.events()
    await h.run("lane hook", first + first)  # the same tasks twice in one batch
    posts = [e for e in h.journal if e[0] == "post"]
    assert len(posts) == 2 and len(set(posts)) == 2
    ledger = [(i, e) for i, e in enumerate(h.journal) if e[:2] == ("changelog", "delivered")]
    sending = [i for i, e in ledger if "sending" in e[2]]
    delivered = [i for i, e in ledger if "delivered" in e[2]]
    post_at = [i for i, e in enumerate(h.journal) if e[0] == "post"]
    stored_at = [i for i, e in enumerate(h.journal) if e == ("write", "delivered")]
    assert sending and delivered and max(sending) < min(stored_at) < min(post_at) <= max(post_at) < min(delivered)
    # Read again after a restart: the ledger says delivered; no second POST.
    await h.run("lane hook", first)
    assert len([e for e in h.journal if e[0] == "post"]) == 2


async def test_a_batch_handed_over_while_the_tables_recover_waits_for_the_recovery(
        tmp_path: Path, hook_rules: Path, httpserver: HTTPServer) -> None:
    """faust hands agents the records it fetched before pausing the source partitions as soon as
    recovery first resumes flow, before the changelogs are read. Before: a lane POSTed at once,
    against a ledger that had not yet read its `delivered` tail, so the alert went out again."""
    h = Harness(tmp_path, rules=hook_rules)
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    await h.run("decide", analyzed_events(h))
    await h.run("deliver", h.topics.alerts.events())
    h.w.app.in_recovery = True
    lane = asyncio.ensure_future(h.run("lane hook", h.topics.deliveries.events()))
    await asyncio.sleep(0.3)
    assert len(httpserver.log) == 0 and not lane.done()  # held while the changelogs are read
    h.w.app.in_recovery = False
    await asyncio.wait_for(lane, 10)
    assert len(httpserver.log) == 2


async def test_the_aggregate_stage_counts_a_replayed_event_once(tmp_path: Path, hook_rules: Path) -> None:
    h = Harness(tmp_path, rules=hook_rules)
    await h.run("decide", analyzed_events(h))
    (event,) = h.topics.rule_events.events()
    await h.run("aggregate", [event])
    await h.run("aggregate", [event])  # the same offset again: 2 items, not 4 (threshold 3)
    fired = [a for _, v, _ in h.topics.alerts.sent for a in decode(AlertBatch, v).alerts if a.rule == "air-wave"]
    assert fired == []
    # A third item, at the next offset, crosses the threshold: one alert.
    item = NewsItem(id="it-3", title="NASAMS systems arrive from Norway", summary="Surface-to-air missiles.",
                    lang="en", source="outlet-3", url="https://o3.example/3")
    records, _ = analyze_values(h.w.config.taxonomy, [encode(item)])
    h.topics.rule_events.sent.clear()
    await h.run("decide", [Event(Message("warwire.analyzed", 0, 5, b"en", records[0][1]))])
    (more,) = h.topics.rule_events.events(start=1)
    await h.run("aggregate", [more])
    fired = [a for _, v, _ in h.topics.alerts.sent for a in decode(AlertBatch, v).alerts if a.rule == "air-wave"]
    assert len(fired) == 1 and fired[0].reason


class Clock:
    """The lanes' and retry tiers' clock, moved by their own waits instead of waiting."""

    def __init__(self) -> None:
        self.now = time.time()
        self.waited: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.waited.append(s)
        self.now += max(s, 0.0)


async def test_an_hour_of_retry_after_is_a_few_held_records_not_one_a_second(
        tmp_path: Path, hook_rules: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hole 6: a task not yet due went back on the deliveries topic about once a second, so a
    receiver's `Retry-After: 3600` cost thousands of records and kept its lane busy."""
    clock = Clock()
    monkeypatch.setattr(delivery_lanes, "clock", clock.time)
    monkeypatch.setattr(delivery_lanes, "pause", clock.sleep)
    answers = iter([Response("slow down", status=429, headers={"Retry-After": "3600"}), Response("ok")])
    posts: list[float] = []

    def handler(request: Request) -> Response:
        posts.append(clock.now)
        return next(answers)
    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)

    h = Harness(tmp_path, rules=hook_rules)
    await h.run("decide", analyzed_events(h, n=1))
    await h.run("deliver", h.topics.alerts.events())
    await h.run("lane hook", h.topics.deliveries.events())
    assert len(posts) == 1 and len(h.topics.deliveries.sent) == 1  # the retry is not on the lane
    hops = 0
    while not len(h.topics.deliveries.sent) > 1:
        (tier, topic), = [(t, topic) for t, topic in h.topics.retries.items() if topic.sent]
        event = topic.events(timestamp=clock.now)[-1]
        topic.sent.clear()
        await h.run(f"retry {tier}s", [event])
        hops += 1
        assert hops <= 8, "a long wait went round the tiers too often"
    assert 3600 <= clock.now - posts[0] < 3600 + 3  # held for the hour the receiver asked, no longer
    await h.run("lane hook", h.topics.deliveries.events()[1:])
    assert len(posts) == 2 and hops == 4  # 4 x 900 s


def test_each_wait_goes_to_the_longest_tier_it_does_not_overshoot() -> None:
    tiers = (2, 15, 120, 900)
    assert [retry_tier(w, tiers, 1.0) for w in (0.5, 1.5, 14, 15, 899, 3600)] == [None, 2, 2, 15, 120, 900]
