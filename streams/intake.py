"""Stage 1's input: `warwire.raw` read in batches by a plain aiokafka consumer.

faust hands a topic to an agent one event at a time: its consumer thread, a stream event and an
acknowledgement per record cost about 300 µs of CPU per record on the development machine, more
than stage 1's own work on the record (docs/benchmarks.md). Stage 1 keeps no state, so it needs
none of faust's table machinery: this consumer fetches up to `batch_max` records at once, hands
them to the stage, waits until the broker has everything the stage produced and only then commits
their offsets. The raw topic is the one topic whose records are one item each; every later hop
already carries batch records and stays with faust.

The consumer group is `<app id>-intake`, beside faust's own group, with static membership like
faust's (a worker restarted with the same id takes its partitions back without a rebalance).

Nothing is lost and little is repeated:
- offsets are committed only after the stage's output is on the broker;
- the rebalance callback waits for the batch in hand, which commits before its partitions move;
- records fetched for partitions that were revoked meanwhile are left to their new owner;
- a worker killed mid-batch processes that batch again at its next start, and stage 2 recognises
  the items it already decided.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from streams import logs

log = logs.get("warwire.intake")

Handler = Callable[[list[ConsumerRecord]], Awaitable[None]]


class _WaitForBatch(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, intake: RawIntake) -> None:
        self.intake = intake

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self.intake.busy:  # the batch in hand finishes and commits first
            pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.intake.assigned = sorted(tp.partition for tp in assigned)
        log.info("intake_assigned", topic=self.intake.topic, partitions=self.intake.assigned)


class RawIntake:
    """Consume `topic` in batches for `handle`, which returns once the batch's output is on the
    broker (or ends the process); commit after it. End and committed offsets go to `monitor`
    as faust reports its own (`track_tp_end_offset`, `on_tp_commit`: streams.app.LagMonitor)."""

    def __init__(self, bootstrap: str, topic: str, group: str, instance_id: str, handle: Handler,
                 monitor: Any, batch_max: int = 500, max_fetch_bytes: int = 8 * 1024 * 1024) -> None:
        self.topic, self.handle, self.monitor, self.batch_max = topic, handle, monitor, batch_max
        self.busy = asyncio.Lock()
        self.assigned: list[int] | None = None  # None until the first assignment
        self.options = dict(
            bootstrap_servers=bootstrap, group_id=group, group_instance_id=instance_id,
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=batch_max,
            # a worker that is gone for good loses its partitions after 20 s, as in faust's group
            session_timeout_ms=20_000, heartbeat_interval_ms=3_000,
            # one oversized (poison) record must still be fetched, so that it is dead-lettered
            max_partition_fetch_bytes=max_fetch_bytes, fetch_max_bytes=4 * max_fetch_bytes)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(**self.options)  # needs the running loop
        await consumer.start()
        consumer.subscribe([self.topic], listener=_WaitForBatch(self))
        try:
            while True:
                fetched = await consumer.getmany(timeout_ms=1000, max_records=self.batch_max)
                async with self.busy:
                    await self._process(consumer, fetched)
        finally:
            await consumer.stop()

    async def _process(self, consumer: AIOKafkaConsumer, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        owned = consumer.assignment()
        batch = {tp: rs for tp, rs in fetched.items() if rs and tp in owned}
        for tp in owned:
            end = consumer.highwater(tp)
            if end is not None:
                self.monitor.track_tp_end_offset(tp, end)
        if not batch:
            return
        await self.handle([r for rs in batch.values() for r in rs])
        offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items()}
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            # Not lost: the next commit covers these offsets too; until then, a restart or the
            # partitions' next owner processes the batch again.
            log.warning("intake_commit_failed", error=f"{type(exc).__name__}: {exc}",
                        partitions=sorted(tp.partition for tp in offsets))
            return
        self.monitor.on_tp_commit(offsets)
