"""Stage state (streams/state.py): what a store claims of its changelog (issue 16, hole 2)."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import rocksdict

from streams.state import StateBatch, applied_through

OFFSET_KEY = b"__faust\0offset__"


def test_a_store_claims_only_the_unbroken_run_of_its_own_records() -> None:
    assert applied_through(b"10", [11, 12, 13]) == 13
    assert applied_through(b"10", [13, 11, 12]) == 13  # order of the futures does not matter
    assert applied_through(b"10", [11, 13]) == 11  # 12 is another writer's: not in this store
    assert applied_through(b"10", [12, 13]) is None  # nothing after 10 is ours: claim nothing more
    assert applied_through(None, [0, 1]) == 1  # a new store, an empty changelog
    assert applied_through(b"10", [9, 11]) == 11  # an offset at or below the stored one changes nothing
    assert applied_through(b"10", []) is None


class _Table:
    """The parts of a BatchTable that StateBatch uses, over a real RocksDB in tmp_path; the
    changelog's offsets come from `next_offsets` (records of other writers leave gaps)."""

    def __init__(self, path: Path, next_offsets: list[int]) -> None:
        db = rocksdict.Rdict(str(path), options=rocksdict.Options(raw_mode=True))
        self.db, self.name, self.next_offsets = db, "dedupe", next_offsets
        self.data = SimpleNamespace(offset_key=OFFSET_KEY, _db_for_partition=lambda p: db)

    def send_changelog(self, partition: int, key: bytes, value: bytes) -> Future[Any]:
        fut: Future[Any] = Future()
        fut.set_result(SimpleNamespace(offset=self.next_offsets.pop(0)))
        return fut


def test_commit_does_not_claim_past_a_record_another_worker_wrote(tmp_path: Path) -> None:
    table = _Table(tmp_path / "db", [11, 13, 14, 15])
    table.db[OFFSET_KEY] = b"10"
    batch = StateBatch(table)  # type: ignore[arg-type]
    batch.stage(0, {"a": b"1"})
    batch.send(0, b"0:1")
    batch.stage(0, {"b": b"2"})
    batch.send(0, b"0:2")  # offset 13: 12 was written by the partition's other owner
    batch.commit()
    assert table.db[b"a"] == b"1" and table.db[b"b"] == b"2"
    assert table.db[OFFSET_KEY] == b"11"  # the next recovery replays 12 and 13 in order
    contiguous = StateBatch(table)  # type: ignore[arg-type]
    contiguous.stage(0, {"c": b"3"})
    contiguous.send(0, b"0:3")  # offset 14, but 12 (foreign) is still unclaimed: the claim stays
    contiguous.commit()
    assert table.db[OFFSET_KEY] == b"11"
    table.db.close()
