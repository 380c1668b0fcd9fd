"""`warwire alerts dlq list|replay`: read the dead-letter topic; send failed deliveries again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from streams.config import Settings
from streams.kafka import TrackingProducer, read_batches
from streams.schema import TOPIC_ALERTS, TOPIC_DLQ, Alert, DeadLetter, RecordError, alert_records, decode


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


async def replay_deliveries(settings: Settings, dry_run: bool = False) -> tuple[int, int]:
    """Publish the alerts of failed deliveries to the alerts topic again. Receivers that already
    have an alert are skipped by the worker's delivered ledger. Returns (replayed, skipped)."""
    replayed, skipped = 0, 0
    producer = TrackingProducer(bootstrap_servers=settings.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        async for _, _, letter, _ in read_dead_letters(settings):
            if letter is None or letter.stage != "deliver":
                skipped += 1
                continue
            try:
                alert = decode(Alert, letter.value.encode())
            except RecordError:
                skipped += 1
                continue
            if not dry_run:
                [(key, value)] = alert_records([msgspec.structs.replace(alert, replayed=True)])
                await producer.send_and_wait(settings.topic(TOPIC_ALERTS), key=key, value=value)
            replayed += 1
    finally:
        await producer.stop()
    return replayed, skipped
