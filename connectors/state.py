"""Per-feed connector state kept in Kafka (warwire.feed-state, compacted, keyed by feed URL)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.schema import FeedState, RecordError, decode

SEEN_KEPT = 1000  # entry ids remembered per feed: more than any feed lists at once


async def load_states(bootstrap: str, topic: str) -> dict[str, FeedState]:
    """The latest state of every feed, read from the start of the topic to its current end."""
    out: dict[str, FeedState] = {}
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        while await consumer.position(tp) < end:
            for records in (await consumer.getmany(tp, timeout_ms=1000)).values():
                for r in records:
                    if r.key is None:
                        continue
                    if r.value is None:
                        out.pop(r.key.decode(), None)
                        continue
                    try:
                        out[r.key.decode()] = decode(FeedState, r.value)
                    except RecordError:
                        continue  # a bad state record costs at most a republish, which dedupe absorbs
    finally:
        await consumer.stop()
    return out
