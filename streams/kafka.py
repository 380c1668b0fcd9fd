"""Kafka client pieces shared by the worker (faust) and the connectors."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer


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
