"""Feed ownership across connector processes, through a Kafka consumer group.

Every connector joins the group `warwire-connect` on the topic warwire.feeds. The topic carries no
records: it exists so that Kafka shares its partitions among the connectors that are alive. A feed
belongs to whoever holds partition crc32(url) mod P. When a connector joins or leaves, Kafka moves
partitions. The one losing a feed stops polling it; the one gaining it starts from the feed's
saved state (warwire.feed-state), so it publishes nothing that was already published.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from connectors.core.schedule import feed_partition
from connectors.poller import Poller
from streams import logs
from streams.schema import FeedState

log = logs.get("warwire.connect")


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: FeedOwnership) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.owner.release({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.owner.take({tp.partition for tp in assigned})


class FeedOwnership:
    def __init__(self, poller: Poller, bootstrap: str, topic: str, group: str, partitions: int,
                 load_saved: Callable[[], Awaitable[dict[str, FeedState]]]) -> None:
        self.poller, self.topic, self.partitions, self.load_saved = poller, topic, partitions, load_saved
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                         session_timeout_ms=10_000, heartbeat_interval_ms=2_000)
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def owned_by(self, partitions: set[int]) -> list[str]:
        return [f.url for f in self.poller.feeds if feed_partition(f.url, self.partitions) in partitions]

    async def release(self, partitions: set[int]) -> None:
        urls = self.owned_by(partitions)
        for url in urls:
            task = self.tasks.pop(url, None)
            if task is not None:
                task.cancel()
            if self.poller.websub is not None:
                self.poller.websub.forget(url)  # the new owner subscribes with its own callback
            self.poller.forget_gauges(url)
        if urls:
            log.info("feeds_released", feeds=len(urls), partitions=sorted(partitions))

    async def take(self, partitions: set[int]) -> None:
        urls = [u for u in self.owned_by(partitions) if u not in self.tasks]
        if not urls:
            return
        self.poller.restore(await self.load_saved(), only=set(urls))
        by_url = {f.url: f for f in self.poller.feeds}
        for url in urls:
            self.tasks[url] = asyncio.create_task(self.poller.loop(by_url[url]))
        log.info("feeds_taken", feeds=len(urls), partitions=sorted(partitions))

    async def run(self) -> None:
        await self.consumer.start()
        self.consumer.subscribe([self.topic], listener=_Listener(self))
        try:
            while True:
                await self.consumer.getmany(timeout_ms=1000)  # keeps the membership alive
        finally:
            for task in self.tasks.values():
                task.cancel()
            await self.consumer.stop()
