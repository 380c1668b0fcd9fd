"""Shared parts of the broker benchmarks and the fault suite: a real broker, a corpus of items,
loading a topic or publishing at a steady rate, and starting, supervising and stopping workers.

Every figure the scripts print is measured on the same broker in the same run as its baseline
(benchmarks/pipeline.py says how throughput is read).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from streams.schema import NewsItem, encode

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("", port))  # every interface, as the metrics servers bind
        except OSError:
            return False
    return True


def free_port(pair: bool = False) -> int:
    """A free port (and, with `pair`, the one above it too: the broker's controller), below the
    kernel's ephemeral range. A port the kernel hands out for binding port 0 is an ephemeral one,
    which an outgoing connection (a client's to the broker) may take before the server that was
    given it binds it: a connector then failed to start its metrics server ("address already in
    use") once in a CI run."""
    low, high = 10000, min(_ephemeral_low(), 65535) - 2
    if high <= low:  # an ephemeral range that starts unusually low: any port, as before
        low, high = 1024, 65534
    for _ in range(200):
        p = random.randint(low, high)
        if _bindable(p) and (not pair or _bindable(p + 1)):
            return p
    raise RuntimeError("no free port")


@dataclass
class Broker:
    bootstrap: str
    data: Path | None  # None: a broker we did not start (WARWIRE_BROKER)
    port: int = 0

    def start(self) -> None:
        assert self.data is not None
        subprocess.run(["bash", str(KAFKA_SH), "start", "--port", str(self.port), "--data", str(self.data)],
                       check=True, stdout=subprocess.DEVNULL)

    def pid(self) -> int | None:
        """The broker's process id, when this run started it."""
        try:
            return int((self.data / "kafka.pid").read_text()) if self.data is not None else None
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if self.data is not None:
            subprocess.run(["bash", str(KAFKA_SH), "stop", "--data", str(self.data)], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def broker() -> Iterator[Broker]:
    """The broker given by WARWIRE_BROKER, or a fresh single-node Kafka started for this run."""
    given = os.environ.get("WARWIRE_BROKER")
    if given:
        yield Broker(given, None)
        return
    with tempfile.TemporaryDirectory(prefix="warwire-bench-") as tmp:
        port = free_port(pair=True)
        b = Broker(f"127.0.0.1:{port}", Path(tmp) / "kafka", port)
        b.start()
        try:
            yield b
        finally:
            b.stop()


# ---------------------------------------------------------------------------------------------
# Corpus

def _templates() -> dict[str, list[tuple[str, str, bool]]]:
    """(title, summary, tagged) per language, from the labelled evaluation set."""
    import orjson

    out: dict[str, list[tuple[str, str, bool]]] = {}
    for line in (ROOT / "tests" / "data" / "eval" / "tagging.jsonl").read_bytes().splitlines():
        if line.strip():
            d = orjson.loads(line)
            out.setdefault(d["lang"], []).append((d["title"], d["summary"], bool(d["topics"])))
    return out


def corpus(n: int, seed: int = 1, dup_share: float = 0.2, tagged_share: float = 0.3) -> list[NewsItem]:
    """`n` news items in five languages, built from the evaluation set's items: a headline and
    the summaries of two items of one language, so that nearly every item is a new story, and
    `tagged_share` of them carry a topic (a war-news feed is mostly about other things). A
    `dup_share` of items are copies of a recent item from another outlet with a word dropped and
    the title changed, as wire copy is."""
    rng = random.Random(seed)
    pool = _templates()
    langs = sorted(pool)
    tagged = {lang: [t for t in pool[lang] if t[2]] for lang in langs}
    plain = {lang: [t for t in pool[lang] if not t[2]] for lang in langs}
    out: list[NewsItem] = []
    now = datetime.now(UTC)
    for i in range(n):
        if out and rng.random() < dup_share:
            base = rng.choice(out[-500:])
            words = base.summary.split()
            if len(words) > 6:
                del words[rng.randrange(len(words))]
            out.append(msgspec.structs.replace(base, id=f"b{i}", url=f"https://outlet{i % 7}.example/{i}",
                                               source=f"outlet{i % 7}", title=base.title + " – update",
                                               summary=" ".join(words)))
            continue
        lang = rng.choice(langs)
        first = rng.choice(tagged[lang] if rng.random() < tagged_share else plain[lang])
        second = rng.choice(plain[lang])
        out.append(NewsItem(id=f"b{i}", title=f"{first[0]} ({rng.randint(100, 999_999)})",
                            summary=f"{first[1]} {second[1]}", url=f"https://outlet{i % 7}.example/{i}",
                            source=f"outlet{i % 7}", feed="bench", lang=lang, published=now, fetched_at=now))
    return out


# ---------------------------------------------------------------------------------------------
# Topics


def prefix() -> str:
    return f"b{uuid.uuid4().hex[:8]}."


async def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from streams.topics import wait_for_partitions

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, partitions, 1) for t in names])
        actual, pending = await wait_for_partitions(admin, names)
        wrong = [t for t in names if actual.get(t) != partitions]
        if pending or wrong:
            raise RuntimeError(f"topics {', '.join(pending or wrong)} lack their {partitions} partitions or leaders after 30 s")
    finally:
        await admin.close()


async def load(bootstrap: str, topic: str, items: list[NewsItem]) -> None:
    """Put items on a topic, keyed by item id, as the connectors do (fast, batched)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024, acks="all")
    await producer.start()
    try:
        futs = [await producer.send(topic, key=it.id.encode(), value=encode(it)) for it in items]
        await asyncio.gather(*futs)
    finally:
        await producer.stop()


async def publish_at(bootstrap: str, topic: str, items: list[NewsItem], per_s: float) -> dict[str, float]:
    """Publish items at a steady rate; when each was handed to the producer (wall clock), by URL."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks="all")
    await producer.start()
    sent: dict[str, float] = {}
    futures = []
    try:
        t0 = time.monotonic()
        for i, it in enumerate(items):
            delay = t0 + i / per_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[it.url] = time.time()
            futures.append(await producer.send(topic, key=it.id.encode(), value=encode(it)))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


def wait_ready(port: str, timeout_s: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"worker on metrics port {port} not ready within {timeout_s:.0f}s")


def worker_env(bootstrap: str, topic_prefix: str, data: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "WARWIRE_BROKER": bootstrap, "WARWIRE_TOPIC_PREFIX": topic_prefix, "WARWIRE_WORKER_DATA": str(data),
        "WARWIRE_METRICS_PORT": "0", "WARWIRE_CONNECT_METRICS_PORT": "0", "WARWIRE_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    })
    for k in ("WARWIRE_SLACK_WEBHOOK_URL", "WARWIRE_WEBHOOK_URL", "WARWIRE_WEBHOOK_SECRET"):
        env.pop(k, None)
    env.update(extra)
    return env


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    fh = open(log, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, *argv], env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
                            start_new_session=True)


class Supervised:
    """Worker processes started again when they exit by themselves, as a service manager does
    (a worker exits on purpose rather than commit what it has not processed). `kill` removes a
    process from supervision first, so a deliberate kill is not counted as a self-exit."""

    def __init__(self) -> None:
        import threading

        self.specs: dict[str, tuple[list[str], dict[str, str], Path]] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.starts = 0
        self.restarts = 0
        self.running = True
        self.lock = threading.Lock()
        threading.Thread(target=self._watch, daemon=True).start()

    def start(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with self.lock:
            self.starts += 1
            self.specs[name] = (argv, env, log)
            self.procs[name] = spawn(argv, env, log.with_suffix(f".{self.starts}.log"))
            return self.procs[name]

    def pids(self) -> list[int]:
        with self.lock:
            return [p.pid for p in self.procs.values()]

    def kill(self, name: str) -> None:
        with self.lock:
            p = self.procs.pop(name)
        os.killpg(p.pid, 9)
        p.wait()

    def _watch(self) -> None:
        while self.running:
            time.sleep(0.5)
            with self.lock:
                dead = [n for n, p in self.procs.items() if p.poll() is not None]
            for name in dead:
                self.restarts += 1
                time.sleep(1.0)
                self.start(name, *self.specs[name])

    def stop(self) -> None:
        self.running = False
        with self.lock:
            procs = list(self.procs.values())
            self.procs.clear()
        for p in procs:
            stop(p)


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
