"""Issue 16, hole 5: every stage's dead letters can be replayed (`warwire alerts dlq replay`)."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.dlq import replay_target
from streams.schema import (
    TOPIC_ALERTS,
    TOPIC_RAW,
    TOPIC_RULE_EVENTS,
    Alert,
    DeadLetter,
    NewsItem,
    RuleEvent,
    RuleItem,
    decode,
    encode,
)


def letter(stage: str, value: bytes) -> DeadLetter:
    return DeadLetter(reason="boom", stage=stage, topic="t", value=value.decode())


def test_each_stage_letter_goes_back_where_its_record_came_from() -> None:
    alert = Alert(id="a1", rule="r", severity="warning", key="k", receivers=["hook"], title="t",
                  fired_at=datetime(2026, 12, 2, tzinfo=UTC))
    kind, topic, key, value = replay_target(letter("deliver", encode(alert)))  # type: ignore[misc]
    assert (kind, topic) == ("alert", TOPIC_ALERTS) and b'"replayed":true' in value
    item = NewsItem(id="i1", title="t", lang="en")
    for stage in ("analyze", "decide"):
        assert replay_target(letter(stage, encode(item))) == ("item", TOPIC_RAW, b"i1", encode(item))
    ev = RuleEvent(kind="items", rule="burst", items=[RuleItem(rule="burst", at=1.0, groups=["*"], item="i1")])
    kind, topic, key, value = replay_target(letter("aggregate", encode(ev)))  # type: ignore[misc]
    assert (kind, topic, key) == ("rule event", TOPIC_RULE_EVENTS, b"burst") and decode(RuleEvent, value) == ev


def test_poison_cut_and_tick_letters_stay() -> None:
    assert replay_target(letter("analyze", b'{"id": 5}')) is None  # not a NewsItem
    assert replay_target(letter("aggregate", encode(RuleEvent(kind="tick", at=1.0)))) is None
    cut = encode(RuleEvent(kind="items", rule="burst"))[:20]
    assert replay_target(letter("aggregate", cut)) is None
    assert replay_target(letter("attempt", b"{}")) is None
