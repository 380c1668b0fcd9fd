"""Silences kept in Kafka: a compacted topic keyed by silence id, read by every worker."""

from __future__ import annotations

from collections.abc import Callable

from alerts.silences import Silence
from streams.config import Settings
from streams.kafka import TrackingProducer, read_batches
from streams.schema import TOPIC_SILENCES, RecordError, decode, encode


async def put(settings: Settings, silence: Silence) -> None:
    producer = TrackingProducer(bootstrap_servers=settings.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic(TOPIC_SILENCES), key=silence.id.encode(), value=encode(silence))
    finally:
        await producer.stop()


async def read_all(settings: Settings) -> dict[str, Silence]:
    """Every silence on the topic (latest version of each), read to the current end."""
    out: dict[str, Silence] = {}
    async for batch in read_batches(settings.bootstrap, settings.topic(TOPIC_SILENCES)):
        for r in batch:
            _apply(out, r.key, r.value)
    return out


async def follow(settings: Settings, on_change: Callable[[dict[str, Silence]], None]) -> None:
    """Keep `on_change` up to date with every silence, for as long as the task runs."""
    current: dict[str, Silence] = {}
    async for batch in read_batches(settings.bootstrap, settings.topic(TOPIC_SILENCES), follow=True):
        if batch:
            for r in batch:
                _apply(current, r.key, r.value)
            on_change(dict(current))


def _apply(current: dict[str, Silence], key: bytes | None, value: bytes | None) -> None:
    if key is None:
        return
    if value is None:
        current.pop(key.decode("utf-8", errors="replace"), None)
        return
    try:
        s = decode(Silence, value)
    except RecordError:
        return
    current[s.id] = s
