"""Shared fixtures. The `kafka` fixture is a real Apache Kafka broker (deploy/kafka/kafka.sh),
started once per test session on free loopback ports and stopped at the end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.harness import free_port

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"


def free_port_pair() -> int:
    """A port p such that p and p+1 are both free on 127.0.0.1 (the broker and its controller)."""
    return free_port(pair=True)


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    data: Path


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    data = tmp_path_factory.mktemp("kafka")
    port = free_port_pair()
    t0 = time.monotonic()
    subprocess.run(["bash", str(KAFKA_SH), "start", "--port", str(port), "--data", str(data)], check=True)
    print(f"\nkafka: broker on 127.0.0.1:{port} ready in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    try:
        yield Broker(f"127.0.0.1:{port}", data)
    finally:
        subprocess.run(["bash", str(KAFKA_SH), "stop", "--data", str(data)], check=False)


@pytest.fixture
def run_env(kafka: Broker, tmp_path: Path) -> dict[str, str]:
    """Environment for warwire processes in one test: its own topics, group and state."""
    env = dict(os.environ)
    env.update({
        "WARWIRE_BROKER": kafka.bootstrap,
        "WARWIRE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}.",
        "WARWIRE_WORKER_DATA": str(tmp_path / "worker"),
        "WARWIRE_METRICS_PORT": str(free_port()),
        "WARWIRE_CONNECT_METRICS_PORT": "0",
        "WARWIRE_PARTITIONS": "4",
        "WARWIRE_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    })
    for k in ("WARWIRE_SLACK_WEBHOOK_URL", "WARWIRE_WEBHOOK_URL", "WARWIRE_WEBHOOK_SECRET"):
        env.pop(k, None)
    return env


class Proc:
    """A warwire subprocess whose output goes to a file, stopped (then killed) at teardown."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._fh = open(log, "wb")  # noqa: SIM115
        self.p = subprocess.Popen(argv, env=env, stdout=self._fh, stderr=subprocess.STDOUT, cwd=ROOT,
                                  start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, 9)
                self.p.wait()
        self._fh.close()
        return self.p.returncode


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    procs: list[Proc] = []

    def start(name: str, args: list[str], env: dict[str, str]) -> Proc:
        proc = Proc([sys.executable, "-m", "streams.cli", *args], env, tmp_path / f"{name}.log")
        procs.append(proc)
        return proc

    yield start
    for proc in reversed(procs):
        proc.stop()


_RSS_DATE = re.compile(rb"<pubDate>([^<]+)</pubDate>")


def as_of_now(body: bytes, newest_ago_s: float = 300.0) -> bytes:
    """An RSS fixture with every pubDate moved by one offset, so that its newest entry is
    `newest_ago_s` old: a feed served today, whose entries are not backlog (NewsItem.backlog)."""
    from email.utils import format_datetime, parsedate_to_datetime

    dates = [parsedate_to_datetime(m.decode()) for m in _RSS_DATE.findall(body)]
    if not dates:
        return body
    shift = time.time() - newest_ago_s - max(d.timestamp() for d in dates)

    def moved(m: re.Match[bytes]) -> bytes:
        from datetime import UTC, datetime
        at = datetime.fromtimestamp(parsedate_to_datetime(m.group(1).decode()).timestamp() + shift, UTC)
        return b"<pubDate>" + format_datetime(at, usegmt=True).encode() + b"</pubDate>"

    return _RSS_DATE.sub(moved, body)


def wait_until(cond, timeout: float, interval: float = 0.2, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def publish(bootstrap: str, prefix: str, items: list) -> None:  # type: ignore[type-arg]
    """Put NewsItems on a test's raw topic, keyed by item id, as the connectors do."""
    from aiokafka import AIOKafkaProducer

    from streams.schema import encode

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for it in items:
            await producer.send_and_wait(f"{prefix}warwire.raw", key=it.id.encode(), value=encode(it))
    finally:
        await producer.stop()
