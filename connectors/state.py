"""Per-feed connector state kept in Kafka (warwire.feed-state, compacted, keyed by feed URL)."""

from __future__ import annotations

from streams.kafka import read_batches
from streams.schema import FeedState, RecordError, decode

SEEN_KEPT = 1000  # entry ids remembered per feed: more than any feed lists at once


async def load_states(bootstrap: str, topic: str) -> dict[str, FeedState]:
    """The latest state of every feed, read from the start of the topic to its current end."""
    out: dict[str, FeedState] = {}
    async for batch in read_batches(bootstrap, topic):
        for r in batch:
            if r.key is None:
                continue
            if r.value is None:
                out.pop(r.key.decode("utf-8", errors="replace"), None)
                continue
            try:
                out[r.key.decode("utf-8", errors="replace")] = decode(FeedState, r.value)
            except RecordError:
                continue  # a bad state record costs at most a republish, which dedupe absorbs
    return out
