"""Silences kept in Kafka: a compacted topic keyed by silence id, read by every worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from alerts.silences import Silence
from streams.config import Settings
from streams.kafka import TrackingProducer
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
    tp = TopicPartition(settings.topic(TOPIC_SILENCES), 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        while end and await consumer.position(tp) < end:
            for records in (await consumer.getmany(tp, timeout_ms=1000)).values():
                for r in records:
                    _apply(out, r.key, r.value)
    finally:
        await consumer.stop()
    return out


async def follow(settings: Settings, on_change: Callable[[dict[str, Silence]], None]) -> None:
    """Keep `on_change` up to date with every silence, for as long as the task runs."""
    current: dict[str, Silence] = {}
    tp = TopicPartition(settings.topic(TOPIC_SILENCES), 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        while True:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            if batch:
                for records in batch.values():
                    for r in records:
                        _apply(current, r.key, r.value)
                on_change(dict(current))
            await asyncio.sleep(0)
    finally:
        await consumer.stop()


def _apply(current: dict[str, Silence], key: bytes | None, value: bytes | None) -> None:
    if key is None:
        return
    if value is None:
        current.pop(key.decode(), None)
        return
    try:
        s = decode(Silence, value)
    except RecordError:
        return
    current[s.id] = s
