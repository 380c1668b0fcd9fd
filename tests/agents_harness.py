"""An in-process harness for the worker's agents (issue 16): a worker built by the composition
root exactly as `warwire worker` builds it, with its topics and tables swapped for recorders
over a real RocksDB, and streams that hand the agent batches of events. The agents' own
functions run unchanged; nothing starts faust or a broker, so the tests see the order of every
send, changelog record and RocksDB write."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import rocksdict

from streams.app import Tables, Topics
from streams.config import Settings
from streams.runtime import Worker
from streams.shell import DeadLetters
from streams.wiring import build_worker


class TP(NamedTuple):
    topic: str
    partition: int


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: float = 0.0  # seconds, as faust gives it

    @property
    def tp(self) -> TP:
        return TP(self.topic, self.partition)


@dataclass
class Event:
    message: Message

    @property
    def value(self) -> bytes:
        return self.message.value


class Stream:
    """What an agent iterates: the given batches, then the end of the stream."""

    def __init__(self, batches: Iterable[Sequence[Event]]) -> None:
        self.batches = [list(b) for b in batches]

    async def take_events(self, n: int, within: float) -> Any:
        for batch in self.batches:
            assert len(batch) <= n
            yield batch


class Sent(NamedTuple):
    offset: int


class Journal(list[tuple[str, ...]]):
    """Everything the harness saw, in order: ("send", topic), ("changelog", table, value) and
    ("write", table) for RocksDB writes; tests add their own (e.g. a receiver's POST)."""


def _done(offset: int, error: BaseException | None = None) -> asyncio.Future[Sent]:
    fut: asyncio.Future[Sent] = asyncio.get_running_loop().create_future()
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(Sent(offset))
    return fut


@dataclass
class RecordingTopic:
    name: str
    journal: Journal
    sent: list[tuple[bytes | None, bytes, int | None]] = field(default_factory=list)
    fail: BaseException | None = None  # the broker refuses every record (the send future fails)

    def get_topic_name(self) -> str:
        return self.name

    async def send(self, key: bytes | None = None, value: bytes = b"", partition: int | None = None) -> Any:
        self.sent.append((key, value, partition))
        self.journal.append(("send", self.name))
        return _done(len(self.sent) - 1, self.fail)

    def events(self, partition: int = 0, start: int = 0, timestamp: float = 0.0) -> list[Event]:
        """What was sent here, as the next stage's events on one partition."""
        return [Event(Message(self.name, partition, start + i, k, v, timestamp)) for i, (k, v, _) in enumerate(self.sent)]


class _DB:
    """One partition's RocksDB, journaling its writes."""

    def __init__(self, path: Path, table: str, journal: Journal) -> None:
        self.db = rocksdict.Rdict(str(path), options=rocksdict.Options(raw_mode=True))
        self.table, self.journal = table, journal

    def get(self, keys: Any) -> Any:
        return self.db.get(keys)

    def write(self, wb: rocksdict.WriteBatch) -> None:
        self.journal.append(("write", self.table))
        self.db.write(wb)


class _Store:
    offset_key = b"__faust\0offset__"

    def __init__(self, root: Path, table: str, journal: Journal) -> None:
        self.root, self.table, self.journal = root, table, journal
        self.dbs: dict[int, _DB] = {}

    def _db_for_partition(self, partition: int) -> _DB:
        if partition not in self.dbs:
            self.dbs[partition] = _DB(self.root / f"{self.table}-{partition}", self.table, self.journal)
        return self.dbs[partition]


class RecordingTable:
    """A BatchTable's surface as StateBatch uses it: real RocksDB, changelog records journaled."""

    def __init__(self, name: str, root: Path, journal: Journal) -> None:
        self.name, self.journal = name, journal
        self.data = _Store(root, name, journal)
        self.changelog: list[tuple[int, bytes, bytes]] = []

    def send_changelog(self, partition: int, key: bytes, value: bytes) -> Any:
        self.changelog.append((partition, key, value))
        self.journal.append(("changelog", self.name, value.decode("latin-1")))
        return _done(len(self.changelog) - 1)

    def stored(self, partition: int, key: bytes) -> bytes | None:
        return self.data._db_for_partition(partition).db.get(key)  # type: ignore[no-any-return]


class Harness:
    def __init__(self, tmp: Path, rules: Path | None = None, taxonomy: Path | None = None) -> None:
        defaults = Settings()
        settings = Settings(worker_data=tmp / "worker", metrics_port=0, analyzers=0,
                            rules=(rules,) if rules else defaults.rules, taxonomy=taxonomy or defaults.taxonomy)
        self.journal = Journal()
        self.w: Worker = build_worker(settings)
        j = self.journal
        self.topics = Topics(**{f: RecordingTopic(getattr(self.w.topics, f).get_topic_name(), j)
                                for f in Topics.__dataclass_fields__ if f != "retries"},
                             retries={t: RecordingTopic(topic.get_topic_name(), j) for t, topic in self.w.topics.retries.items()})
        self.tables = Tables(**{f: RecordingTable(f, tmp / "rocks", j) for f in Tables.__dataclass_fields__})
        self.w.topics, self.w.tables = self.topics, self.tables  # type: ignore[assignment]
        self.w.letters = DeadLetters(self.topics.dlq, self.w.metrics)
        self.committed: dict[Any, int] = {}
        self.w.committed_offsets = lambda: self.committed  # type: ignore[method-assign]

    async def run(self, agent: str, *batches: Sequence[Event]) -> None:
        await self.w.agents[agent].fun(Stream(batches))
