"""Publishing NewsItems to the raw topic with an idempotent producer, keyed by item id."""

from __future__ import annotations

from streams.kafka import TrackingProducer
from streams.schema import NewsItem, encode


class Publisher:
    def __init__(self, bootstrap: str, topic: str, health_topic: str | None = None) -> None:
        self.topic = topic
        self.health_topic = health_topic
        self._producer = TrackingProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
            max_batch_size=256 * 1024, request_timeout_ms=30000, client_id="warwire-connect")

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, items: list[NewsItem]) -> None:
        """Send every item and wait until the broker has all of them (raises on failure)."""
        futures = [await self._producer.send(self.topic, key=i.id.encode(), value=encode(i)) for i in items]
        for fut in futures:
            await fut

    async def publish_raw(self, key: bytes | None, value: bytes, topic: str | None = None) -> None:
        await (await self._producer.send(topic or self.topic, key=key, value=value))
