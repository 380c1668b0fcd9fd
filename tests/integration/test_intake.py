"""Stage 1's own consumer (streams/intake.py) on the real broker: every raw record reaches the
stage, a second member joining mid-stream takes partitions without a record lost or processed
twice, and a batch whose handler fails is not committed."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from aiokafka import AIOKafkaProducer, TopicPartition

from benchmarks.harness import create_topics
from streams.intake import RawIntake

N = 3000


async def _produce(bootstrap: str, topic: str, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futs = [await producer.send(topic, key=str(i).encode(), value=str(i).encode()) for i in range(n)]
        await asyncio.gather(*futs)
    finally:
        await producer.stop()


def _intake(bootstrap: str, topic: str, group: str, member: str, seen: Counter, by_member: Counter,
            committed: dict[tuple[str, int], int], delay_s: float = 0.0, fail_after: int | None = None) -> RawIntake:
    async def handle(records: list) -> None:  # type: ignore[type-arg]
        if fail_after is not None and sum(by_member.values()) >= fail_after:
            raise RuntimeError("handler failed")
        await asyncio.sleep(delay_s)  # the batch is in hand across a rebalance
        for r in records:
            seen[r.value] += 1
        by_member[member] += len(records)

    class Monitor:  # the two LagMonitor methods the intake reports to
        def track_tp_end_offset(self, tp: TopicPartition, offset: int) -> None:
            pass

        def on_tp_commit(self, offsets: dict[TopicPartition, int]) -> None:
            for tp, offset in offsets.items():
                committed[member, tp.partition] = offset

    return RawIntake(bootstrap, topic, group, f"{group}-{member}", handle, Monitor(), batch_max=50)


async def _until(cond, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not cond():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.1)


async def test_a_member_joining_mid_stream_loses_and_repeats_nothing(kafka) -> None:
    topic, group = f"intake-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    await create_topics(kafka.bootstrap, [topic], 4)
    await _produce(kafka.bootstrap, topic, N)
    seen: Counter[bytes] = Counter()
    by_member: Counter[str] = Counter()
    committed: dict[tuple[str, int], int] = {}
    a = asyncio.create_task(_intake(kafka.bootstrap, topic, group, "a", seen, by_member, committed, 0.2).run())
    await _until(lambda: by_member["a"] >= 300, 60)
    b = asyncio.create_task(_intake(kafka.bootstrap, topic, group, "b", seen, by_member, committed, 0.2).run())
    try:
        await _until(lambda: len(seen) == N, 120)
        await asyncio.sleep(1.0)  # anything processed twice would show up by now
    finally:
        a.cancel()
        b.cancel()
        await asyncio.gather(a, b, return_exceptions=True)
    assert by_member["b"] > 0, by_member  # the rebalance gave b partitions while a was busy
    assert by_member["a"] < N - 300
    twice = {v: c for v, c in seen.items() if c > 1}
    assert not twice, f"{len(twice)} records processed twice"
    # Each partition's last commit (by whoever held it last) is its end: nothing left to redo.
    last = {}
    for (_, p), off in committed.items():
        last[p] = max(last.get(p, 0), off)
    assert sum(last.values()) == N


async def test_a_batch_whose_handler_fails_is_not_committed(kafka) -> None:
    topic, group = f"intake-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    await create_topics(kafka.bootstrap, [topic], 1)
    await _produce(kafka.bootstrap, topic, 500)
    seen: Counter[bytes] = Counter()
    by_member: Counter[str] = Counter()
    committed: dict[tuple[str, int], int] = {}
    failing = _intake(kafka.bootstrap, topic, group, "a", seen, by_member, committed, fail_after=200)
    task = asyncio.create_task(failing.run())
    done, _ = await asyncio.wait([task], timeout=60)
    assert done and isinstance(task.exception(), RuntimeError)
    assert committed["a", 0] == by_member["a"] == 200  # the failed batch's offsets stayed uncommitted
    # The next start (the same member) begins at the first record of the failed batch.
    seen.clear()
    again = asyncio.create_task(_intake(kafka.bootstrap, topic, group, "a", seen, by_member, committed).run())
    try:
        await _until(lambda: committed["a", 0] == 500, 60)
    finally:
        again.cancel()
        await asyncio.gather(again, return_exceptions=True)
    assert min(int(v) for v in seen) == 200 and len(seen) == 300 and max(seen.values()) == 1
