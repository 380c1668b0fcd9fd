"""The batch records of the analyzed and alerts topics: every value once, in order, within the
broker's record limit."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from streams.schema import (
    BATCH_MAX_BYTES,
    BATCH_MAX_ITEMS,
    Alert,
    AlertBatch,
    RecordError,
    alert_records,
    decode,
)


def _alert(i: int, title_len: int = 40) -> Alert:
    return Alert(id=f"a{i}", rule="tracked-topics", severity="warning", key=f"s-{i}",
                 fired_at=datetime(2026, 12, 1, tzinfo=UTC), receivers=["console"], title="x" * title_len)


@pytest.mark.parametrize(("n", "title_len"), [(1, 40), (BATCH_MAX_ITEMS + 1, 40), (700, 4000)])
def test_alert_records_keep_every_alert_in_order_within_the_limits(n: int, title_len: int) -> None:
    alerts = [_alert(i, title_len) for i in range(n)]
    records = alert_records(alerts)
    batches = [decode(AlertBatch, value) for _, value in records]
    assert [a for b in batches for a in b.alerts] == alerts
    assert all(len(b.alerts) <= BATCH_MAX_ITEMS for b in batches)
    assert all(len(value) <= BATCH_MAX_BYTES + 8 * 1024 for _, value in records)
    # keyed by the first alert of each record
    assert [key.decode() for key, _ in records] == [b.alerts[0].id for b in batches]
    if n > BATCH_MAX_ITEMS:
        assert len(records) > 1


def test_no_alerts_no_record() -> None:
    assert alert_records([]) == []


def test_alert_batch_tolerates_unknown_fields_and_rejects_a_lone_alert() -> None:
    [(_, value)] = alert_records([_alert(1)])
    doc = json.loads(value)
    doc["added_later"] = {"any": 1}
    assert decode(AlertBatch, json.dumps(doc)).alerts[0].id == "a1"
    with pytest.raises(RecordError, match="AlertBatch"):
        decode(AlertBatch, json.dumps(doc["alerts"][0]))


@pytest.mark.parametrize(("value", "reason"), [
    (b'{"id":"\xff","title":"x"}', "not valid UTF-8"),
    ('{"id":"\ud800","title":"x"}', "not valid UTF-8"),
    (b'{"id":"a","title":"t","x":' + b"[" * 200_000 + b"]" * 200_000 + b"}", "nested too deeply"),
    (b'{"id":"a","title":"t","v":2}', "schema version 2 is not one this warwire reads"),
    (b'{"id":"a","title":"t","v":-7}', "schema version -7"),
    (b'{"id":"a","title":"t","v":1000000000000000000000000000000}', "schema version 100000… (31 digits)"),
])
def test_hostile_record_values_are_record_errors(value: bytes | str, reason: str) -> None:
    """Issue 17: UnicodeDecodeError and RecursionError escaped decode(), unknown versions were read."""
    from streams.schema import NewsItem, RecordError, decode

    with pytest.raises(RecordError, match=re.escape(reason)):
        decode(NewsItem, value)
