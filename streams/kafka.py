"""Kafka client pieces shared by the worker (faust), the connectors and the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition


class MissingTopic(LookupError):
    """A topic a command reads is not on the broker."""


class TrackingProducer(AIOKafkaProducer):
    """An AIOKafkaProducer that asks for metadata of every topic it sends to.

    aiokafka 0.14 starts by fetching metadata for all topics and does not track a topic it found
    that way. Once another topic is tracked explicitly, metadata requests cover only tracked topics
    and the untracked one drops out of the cluster view. Its queued batches then never find a
    leader, and the sender loops on metadata refreshes at full CPU while nothing is delivered. We
    reproduced it under CPU load with `warwire run --demo`: the worker stalled with batches for
    warwire-delivered-changelog. Tracking every topic before sending avoids it.
    """

    async def send(self, topic: str, *args: Any, **kwargs: Any) -> Any:
        self.client.add_topic(topic)
        return await super().send(topic, *args, **kwargs)


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of `topic`. (`consumer.topics()` fetches metadata into a cluster object of
    its own, so `partitions_for_topic` right after it still knows nothing of the topic.)"""
    cluster = await consumer._client.fetch_all_metadata()
    parts = cluster.partitions_for_topic(topic)
    if not parts:
        raise MissingTopic(f"topic {topic!r} does not exist on the broker")
    return [TopicPartition(topic, p) for p in sorted(parts)]


async def read_batches(bootstrap: str, topic: str, follow: bool = False) -> AsyncIterator[list[ConsumerRecord]]:
    """Every record of a topic, from the beginning, in batches: up to the end it had when called,
    or (follow) for as long as the caller iterates. Reads as no group: commits nothing."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = await partitions_of(consumer, topic)
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        while True:
            if not follow and all([await consumer.position(tp) >= end[tp] for tp in parts]):
                return
            batch = await consumer.getmany(*parts, timeout_ms=1000)
            records = [r for rs in batch.values() for r in rs]
            if records or follow:
                yield records
    finally:
        await consumer.stop()
