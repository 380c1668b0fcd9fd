"""Topic set-up on the real broker: fixed partition counts, checked before any worker starts."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from streams.config import Settings
from streams.topics import ensure_topics, pipeline_topics

pytestmark = pytest.mark.kafka


async def test_topics_are_created_with_their_partition_counts_and_mismatch_is_refused(kafka) -> None:
    s = Settings(broker=kafka.bootstrap, partitions=3, topic_prefix=f"t{uuid.uuid4().hex[:8]}.")
    assert await ensure_topics(s) == pipeline_topics(s)
    assert await ensure_topics(s) == pipeline_topics(s)  # idempotent
    with pytest.raises(RuntimeError, match=r"warwire.raw has 3 partitions, expected 5"):
        await ensure_topics(replace(s, partitions=5))
