"""The raw aiokafka baseline: a chain of consume → decode → encode → produce loops.

    python -m benchmarks.rawchain BOOTSTRAP IN_TOPIC OUT_PREFIX HOPS   (run by benchmarks.pipeline)

Hop i consumes IN_TOPIC (i = 0) or OUT_PREFIX<i>, decodes every NewsItem, encodes it again and
produces it to OUT_PREFIX<i+1> with the same key, then commits once the batch is on the broker:
the least a stage can do and still lose nothing. All hops run in this one process, as warwire's
stages run in one worker.
"""

from __future__ import annotations

import asyncio
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.schema import NewsItem, decode, encode


async def hop(bootstrap: str, src: str, dst: str, group: str) -> None:
    consumer = AIOKafkaConsumer(src, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=2000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
                                max_batch_size=256 * 1024)
    await consumer.start()
    await producer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            futures = []
            for records in batch.values():
                for r in records:
                    futures.append(await producer.send(dst, key=r.key, value=encode(decode(NewsItem, r.value))))
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


async def main(bootstrap: str, src: str, prefix: str, hops: int) -> None:
    topics = [src] + [f"{prefix}{i}" for i in range(1, hops + 1)]
    await asyncio.gather(*(hop(bootstrap, topics[i], topics[i + 1], f"{prefix}group{i}") for i in range(hops)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
