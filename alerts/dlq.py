"""`warwire alerts dlq list|replay`: read the dead-letter topic; send failed deliveries again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from streams.config import Settings
from streams.kafka import TrackingProducer, read_batches
from streams.schema import (
    TOPIC_ALERTS,
    TOPIC_DLQ,
    TOPIC_RAW,
    Alert,
    DeadLetter,
    NewsItem,
    RecordError,
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


async def replay_deliveries(settings: Settings, dry_run: bool = False) -> tuple[int, int, int]:
    """Publish again what the dead-letter topic can give back: the alerts of failed (or ambiguous)
    deliveries to the alerts topic, and the items a stage failed on (analyze, decide letters whose
    value is a NewsItem) to the raw topic. Receivers that already have an alert are skipped by the
    worker's delivered ledger; records that are not valid (poison) stay. Returns (alerts, items,
    left)."""
    alerts, items, left = 0, 0, 0
    producer = TrackingProducer(bootstrap_servers=settings.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        async for _, _, letter, _ in read_dead_letters(settings):
            if letter is None:
                left += 1
            elif letter.stage == "deliver":
                try:
                    alert = decode(Alert, letter.value.encode())
                except RecordError:
                    left += 1
                    continue
                if not dry_run:
                    [(key, value)] = alert_records([msgspec.structs.replace(alert, replayed=True)])
                    await producer.send_and_wait(settings.topic(TOPIC_ALERTS), key=key, value=value)
                alerts += 1
            elif letter.stage in ("analyze", "decide"):
                try:
                    item = decode(NewsItem, letter.value.encode())
                except RecordError:
                    left += 1  # a poison record: it points to a feed or producer to fix
                    continue
                if not dry_run:
                    await producer.send_and_wait(settings.topic(TOPIC_RAW), key=item.id.encode(), value=encode(item))
                items += 1
            else:
                left += 1
    finally:
        await producer.stop()
    return alerts, items, left
