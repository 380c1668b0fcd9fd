"""`warwire alerts dlq list|replay`: read the dead-letter topic; publish again what a stage failed on:
failed or ambiguous deliveries (to the alerts topic), items (analyze and decide letters, to the raw
topic) and rule events (aggregate letters, to the rule-events topic). `replay_target` decides."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from streams.config import Settings
from streams.kafka import TrackingProducer, read_batches
from streams.schema import (
    TOPIC_ALERTS,
    TOPIC_DLQ,
    TOPIC_RAW,
    TOPIC_RULE_EVENTS,
    Alert,
    DeadLetter,
    NewsItem,
    RecordError,
    RuleEvent,
    alert_records,
    decode,
    encode,
)


async def read_dead_letters(settings: Settings) -> AsyncIterator[tuple[int, int, DeadLetter | None, bytes]]:
    """Every record on the dead-letter topic, from the start to the current end."""
    async for batch in read_batches(settings.bootstrap, settings.topic(TOPIC_DLQ)):
        for r in batch:
            try:
                letter: DeadLetter | None = decode(DeadLetter, r.value)
            except RecordError:
                letter = None
            yield r.partition, r.offset, letter, r.value


async def list_dead_letters(settings: Settings) -> list[str]:
    lines = []
    async for partition, offset, letter, raw in read_dead_letters(settings):
        if letter is None:
            lines.append(f"{partition}:{offset}\t?\tunreadable dead letter ({len(raw)} bytes)")
        else:
            src = f"{letter.topic}[{letter.partition}]@{letter.offset}" if letter.offset >= 0 else letter.topic
            lines.append(f"{partition}:{offset}\t{letter.stage}\t{src}\t{letter.reason}")
    return lines


def replay_target(letter: DeadLetter) -> tuple[str, str, bytes, bytes] | None:
    """Where a dead letter goes when it is replayed: (what it is, topic, key, value), or None when
    it cannot be (a poison record, a value cut to fit the letter, a tick, an unknown stage)."""
    try:
        if letter.stage == "deliver":
            alert = decode(Alert, letter.value.encode())
            [(key, value)] = alert_records([msgspec.structs.replace(alert, replayed=True)])
            return "alert", TOPIC_ALERTS, key, value
        if letter.stage in ("analyze", "decide"):
            item = decode(NewsItem, letter.value.encode())
            return "item", TOPIC_RAW, item.id.encode(), encode(item)
        if letter.stage == "aggregate":
            ev = decode(RuleEvent, letter.value.encode())
            # A tick only says that time passed: the next one does that again.
            return None if ev.kind == "tick" else ("rule event", TOPIC_RULE_EVENTS, ev.rule.encode(), encode(ev))
    except RecordError:
        return None  # a poison record: it points to a feed or producer to fix
    return None


async def replay_deliveries(settings: Settings, dry_run: bool = False) -> tuple[int, int, int, int]:
    """Publish again every dead letter `replay_target` places. Receivers that already have an
    alert are skipped by the worker's delivered ledger; an item is decided again as a replay of
    its id; a rule event is counted once, since its failed first attempt changed no state.
    Returns (alerts, items, rule events, left)."""
    counts = {"alert": 0, "item": 0, "rule event": 0}
    left = 0
    producer = TrackingProducer(bootstrap_servers=settings.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        async for _, _, letter, _ in read_dead_letters(settings):
            target = replay_target(letter) if letter is not None else None
            if target is None:
                left += 1
                continue
            kind, topic, key, value = target
            if not dry_run:
                await producer.send_and_wait(settings.topic(topic), key=key, value=value)
            counts[kind] += 1
    finally:
        await producer.stop()
    return counts["alert"], counts["item"], counts["rule event"], left
