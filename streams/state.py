"""Stage 2's state: a faust table whose changelog carries one record per item.

An item changes up to a dozen keys (its record, its url, text and candidate keys, its story, the
rules it fired). Written through faust's table API, each key is a changelog message of its own,
and faust's per-write cost (~50 µs) would exceed everything else stage 2 does. `BatchTable` keeps
faust's changelog topic, recovery, standby replicas and rebalancing, but its changelog records
are batches: one per analyzed record (itself a batch of items), value = every key its items
changed (msgpack). Restoring applies the batches in order, which leaves each key at its last
value.

Ordering and crashes (`StateBatch`). While an agent works through a batch of events, writes go to
an in-memory overlay (later events of the batch read it) and to the changelog. RocksDB is written
only after the broker has confirmed every changelog record and output of the batch, together with
the changelog offset, in one atomic WriteBatch. A worker that dies before that leaves RocksDB as it
was and its events uncommitted: they are decided again from the same state. One that dies after it
has both the data and the offset, and finds each replayed item already recorded (dedupe: replay).

Another writer. During a rebalance the old and the new owner of a partition can both write its
changelog for a moment. A store therefore never claims a changelog offset past a record that is
not its own (`applied_through`): the next recovery replays from there, so such a record is
applied, in order, instead of being skipped.

Expiry. Keys expire after the dedupe horizon plus a day: RocksDB's TTL drops them at compaction
(rocksdict `AccessType.with_ttl`), and the changelog topic is created with `cleanup.policy=delete`
and the same retention (streams/topics.py), so neither the local store nor the topic grows with
time at a steady input rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import faust
import msgspec
import rocksdict

from streams import logs

log = logs.get("warwire.state")

_batch_enc = msgspec.msgpack.Encoder()
_batch_dec = msgspec.msgpack.Decoder(dict[str, bytes | None])


CHANGELOG_MAX_BYTES = 256 * 1024  # far below the broker's and producer's 1 MiB message limit


def encode_batch(writes: dict[str, bytes]) -> bytes:
    return _batch_enc.encode(writes)


def changelog_chunks(writes: dict[str, bytes], limit: int = CHANGELOG_MAX_BYTES) -> list[bytes]:
    """`writes` as encoded changelog records of at most about `limit` bytes each, in order: a
    batch whose items changed many keys (the story tier's term frequencies and postings) becomes
    several records, never one the broker would refuse. A single write larger than `limit`
    goes alone."""
    out: list[bytes] = []
    chunk: dict[str, bytes] = {}
    size = 0
    for key, value in writes.items():
        cost = len(key) + len(value) + 8
        if chunk and size + cost > limit:
            out.append(encode_batch(chunk))
            chunk, size = {}, 0
        chunk[key] = value
        size += cost
    if chunk:
        out.append(encode_batch(chunk))
    return out


class BatchTable(faust.Table):  # type: ignore[misc]
    """A table whose changelog records are write batches (see the module docstring)."""

    def _on_changelog_sent(self, fut: Any) -> None:
        # faust would persist the changelog offset now, before our data reaches RocksDB;
        # StateBatch.commit writes data and offset together instead.
        return None

    def apply_changelog_batch(self, batch: Iterable[Any]) -> None:
        store = self.data
        batches: dict[int, rocksdict.WriteBatch] = defaultdict(lambda: rocksdict.WriteBatch(raw_mode=True))
        offsets: dict[Any, int] = {}
        for event in batch:
            msg = event.message
            offsets[msg.tp] = max(msg.offset, offsets.get(msg.tp, -1))
            if msg.value is None:
                continue
            wb = batches[msg.partition]
            for key, value in _batch_dec.decode(msg.value).items():
                if not value:
                    wb.delete(key.encode())
                else:
                    wb.put(key.encode(), value)
        for tp, offset in offsets.items():
            batches[tp.partition].put(store.offset_key, str(offset).encode())
        for partition, wb in batches.items():
            store._db_for_partition(partition).write(wb)


class StateBatch:
    """The writes of one batch of events, readable at once, stored once the broker has them."""

    def __init__(self, table: BatchTable) -> None:
        self.table = table
        self.overlay: dict[int, dict[str, bytes]] = defaultdict(dict)
        self.pending: dict[int, dict[str, bytes]] = defaultdict(dict)
        self.sent: dict[int, list[Any]] = defaultdict(list)

    def stage(self, partition: int, writes: dict[str, bytes]) -> None:
        """Make `writes` visible to the rest of the batch; `send` puts them on the changelog."""
        self.overlay[partition].update(writes)
        self.pending[partition].update(writes)

    def send(self, partition: int, batch_key: bytes) -> list[Any]:
        """Send what was staged since the last send as changelog records (`changelog_chunks`);
        their futures, none when nothing was staged."""
        writes = self.pending.pop(partition, None)
        if not writes:
            return []
        futures = [self.table.send_changelog(partition, batch_key, rec) for rec in changelog_chunks(writes)]
        self.sent[partition].extend(futures)
        return futures

    def get_many(self, partition: int, keys: Sequence[str]) -> list[bytes | None]:
        stored = self.table.data._db_for_partition(partition).get([k.encode() for k in keys])
        over = self.overlay.get(partition)
        if not over:
            return stored  # type: ignore[no-any-return]
        return [over[k] if k in over else v for k, v in zip(keys, stored, strict=True)]

    def commit(self) -> None:
        """Store the overlay in RocksDB with each partition's last changelog offset. Call only
        after every future returned by `send` has completed."""
        store = self.table.data
        for partition, writes in self.overlay.items():
            if not self.sent[partition]:
                continue
            wb = rocksdict.WriteBatch(raw_mode=True)
            for key, value in writes.items():
                if value:
                    wb.put(key.encode(), value)
                else:
                    wb.delete(key.encode())  # b"" stages a deletion
            db = store._db_for_partition(partition)
            offsets = [f.result().offset for f in self.sent[partition]]
            upto = applied_through(db.get(store.offset_key), offsets)
            if upto is None or upto < max(offsets):
                log.warning("changelog_interleaved", table=self.table.name, partition=partition,
                            claimed=upto, written=max(offsets),
                            hint="another worker wrote this partition's changelog during a rebalance; "
                                 "the next recovery applies it in order")
            if upto is not None:
                wb.put(store.offset_key, str(upto).encode())
            db.write(wb)
        self.overlay.clear()
        self.sent.clear()


def applied_through(stored: bytes | None, offsets: Sequence[int]) -> int | None:
    """The changelog offset a store may claim once it holds its last stored offset (`stored`) and
    this batch's own records (`offsets`): the end of the unbroken run of offsets after `stored`.
    A record of someone else in between (another worker that processed the partition during a
    rebalance) is not in this store, so the claim stops before it, and the next recovery reads
    the changelog again from there, in order. None: nothing more to claim."""
    if not offsets:
        return None
    ours = sorted(offsets)
    expected = int(stored) + 1 if stored else ours[0]
    start = expected
    for o in ours:
        if o < expected:
            continue
        if o != expected:
            break
        expected += 1
    return expected - 1 if expected > start else None
