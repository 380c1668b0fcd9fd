"""The fault suite: warwire under crashes, a lost broker, a failing receiver and poison records,
on loopback only, bounded in time and count. Figures go in docs/reliability.md.

    .venv/bin/python -m benchmarks.faults [--only kill,failover,broker,receiver,poison] [--json FILE]
                                          [--items 10000] [--kills 10]

  kill      SIGKILL the worker (and its helpers) --kills times at random moments while --items
            items stream at 200/s, restarting it each time; a known fifth of the items must alert
  failover  two workers; one is killed for good mid-stream; its partitions move to the other
  broker    the broker stopped for 30 s mid-stream and started again; connectors (polling a local
            feed that grows every second) and the worker must recover by themselves
  receiver  the webhook down (connection refused) for 2 minutes, then answering 429 with
            Retry-After to every second request for 30 s; what the retry budget could not deliver
            must be in the DLQ with a reason, and `warwire alerts dlq replay` delivers it
  poison    bad values on the raw topic (not JSON, missing fields, wrong types, 5 MB, invalid
            UTF-8, a tombstone, a JSON array) between good items: each dead-lettered with a
            reason while every good item's alert arrives

Every scenario counts the alerts it expects (items labelled expect=yes, matched by a `match` rule
keyed by item), those that arrived, and those that arrived more than once (the receiver sees the
same Idempotency-Key: a webhook POST that a killed worker may have sent is sent again, and the
receiver drops it by its key).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from alerts.delivery_lanes import LANE_BATCH
from benchmarks import harness as h
from benchmarks.webhook import Receiver
from streams.schema import NewsItem

RULES = """
receivers:
  hook: {type: webhook, url_env: FAULT_HOOK_URL}
rules:
  - name: expected
    type: match
    labels: {expect: "yes"}
    key: item
    realert: 1h
    receivers: [hook]
"""


@dataclass
class Outcome:
    scenario: str
    expected: int
    received: int
    duplicates: int
    dead_letters: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.expected - self.received

    def row(self) -> str:
        return (f"{self.scenario:<9} expected {self.expected:>5}  received {self.received:>5}  lost {self.lost:>4}  "
                f"duplicates {self.duplicates:>3}  dlq {self.dead_letters:>3}  {self.seconds:>6.0f}s  "
                + "; ".join(self.notes))


def labelled(items: list[NewsItem], share: float = 0.2, seed: int = 3) -> tuple[list[NewsItem], set[str]]:
    """Items, a `share` of them labelled expect=yes (each a different URL): the alerts expected."""
    rng = random.Random(seed)
    out, expected = [], set()
    for i, it in enumerate(items):
        it = msgspec.structs.replace(it, url=f"https://fault.example/{i}")
        if rng.random() < share:
            it = msgspec.structs.replace(it, labels={"expect": "yes"})
            expected.add(it.url)
        out.append(it)
    return out, expected


class Run:
    """One scenario's broker topics, rules, receiver and worker processes."""

    def __init__(self, broker: h.Broker, work: Path, receiver: Receiver, partitions: int = 4) -> None:
        self.broker, self.work, self.rx = broker, work, receiver
        self.prefix = h.prefix()
        rules = work / f"rules-{self.prefix}"
        rules.mkdir()
        (rules / "faults.yaml").write_text(RULES)
        self.env = h.worker_env(broker.bootstrap, self.prefix, work / f"state-{self.prefix}", WARWIRE_RULES=str(rules),
                                WARWIRE_PARTITIONS=str(partitions), FAULT_HOOK_URL=receiver.url)
        from streams.config import load_settings
        from streams.topics import ensure_topics

        asyncio.run(ensure_topics(load_settings(env=self.env)))
        self.workers = h.Supervised()

    def start(self, name: str = "worker", worker_id: str = "0", port: str | None = None, wait: bool = True) -> str:
        port = port or str(h.free_port())
        env = dict(self.env, WARWIRE_WORKER_ID=worker_id, WARWIRE_METRICS_PORT=port)
        self.workers.start(name, ["-m", "streams.cli", "worker"], env, self.work / f"{name}.log")
        if wait:
            h.wait_ready(port, 120)
        return port

    def kill(self, name: str = "worker") -> None:
        self.workers.kill(name)

    def stop_all(self) -> None:
        self.workers.stop()

    def dead_letters(self) -> list[dict]:  # type: ignore[type-arg]
        out = subprocess.run([sys.executable, "-m", "streams.cli", "alerts", "dlq", "list"], env=self.env,
                             capture_output=True, text=True, cwd=h.ROOT, timeout=120)
        return [{"line": line} for line in out.stdout.splitlines() if line.strip()]

    def outcome(self, scenario: str, expected: set[str], t0: float, quiet_s: float = 60.0) -> Outcome:
        """Wait until every expected alert arrived, or none arrived for `quiet_s`."""
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and len(expected - set(self.rx.arrivals)) > 0:
            if time.monotonic() - self.rx.last > quiet_s:
                break
            time.sleep(0.5)
        time.sleep(3)  # late copies still count as duplicates
        got = {u for u in self.rx.arrivals if u in expected}
        dups = sum(n - 1 for u, n in self.rx.counts.items() if u in expected and n > 1)
        out = Outcome(scenario, len(expected), len(got), dups, seconds=time.monotonic() - t0)
        if dups:
            # A copy a receiver can drop carries the first attempt's Idempotency-Key.
            same_key = sum(n - 1 for n in self.rx.keys.values() if n > 1)
            out.notes.append(f"{same_key} of {dups} duplicates carried the Idempotency-Key of an earlier delivery")
        if self.workers.restarts:
            out.notes.append(f"workers exited by themselves {self.workers.restarts} time(s) and were started again")
        if expected - got:
            out.notes.append("missing: " + ", ".join(sorted(expected - got)[:10]))
        return out


def stream(broker: h.Broker, topic: str, items: list[NewsItem], rate: float) -> threading.Thread:
    th = threading.Thread(target=lambda: asyncio.run(h.publish_at(broker.bootstrap, topic, items, rate)), daemon=True)
    th.start()
    return th


def in_flight_repeats(rx: Receiver, expected: set[str], killed_at: list[float]) -> tuple[list[int], float] | None:
    """For the repeated alerts: how many fall to each kill (the first kill after the alert's first
    arrival), and the longest time from a first arrival to that kill. A repeat is a POST in flight at
    a kill (answered, not yet recorded as delivered) when it arrived just before one."""
    firsts = [rx.arrivals[u] for u, n in rx.counts.items() if u in expected and n > 1]
    if not firsts:
        return None
    per_kill = [0] * len(killed_at)
    before = 0.0
    for first in firsts:
        later = [i for i, k in enumerate(killed_at) if k >= first]
        if not later:
            return [len(firsts)], float("inf")  # repeated with no kill after it: not in flight at a kill
        per_kill[later[0]] += 1
        before = max(before, killed_at[later[0]] - first)
    return per_kill, before


def kill_scenario(broker: h.Broker, work: Path, n_items: int, kills: int) -> Outcome:
    items, expected = labelled(h.corpus(n_items, seed=11))
    rx = Receiver()
    run = Run(broker, work, rx)
    t0 = time.monotonic()
    run.start()
    rate = 200.0
    th = stream(broker, run.prefix + "warwire.raw", items, rate)
    duration = n_items / rate
    rng = random.Random(5)
    moments = sorted(rng.uniform(2, duration) for _ in range(kills))
    killed_at: list[float] = []
    for at in moments:
        time.sleep(max(0.0, at - (time.monotonic() - t0)))
        killed_at.append(time.time())
        run.kill()
        run.start()
    th.join()
    out = run.outcome("kill", expected, t0)
    out.notes.append(f"{kills} SIGKILLs at random moments, each followed by a restart on the same state")
    repeats = in_flight_repeats(rx, expected, killed_at)
    if repeats:
        per_kill, before = repeats
        out.notes.append(f"repeated alerts per kill at most {max(per_kill)} (a lane has at most {LANE_BATCH} POSTs in flight); "
                         f"every repeated alert had first arrived at most {before:.2f} s before a kill")
    out.dead_letters = len(run.dead_letters())
    run.stop_all()
    rx.close()
    return out


def failover_scenario(broker: h.Broker, work: Path, n_items: int) -> Outcome:
    items, expected = labelled(h.corpus(n_items, seed=12))
    rx = Receiver()
    run = Run(broker, work, rx)
    t0 = time.monotonic()
    run.start("a", "0")
    run.start("b", "1")
    th = stream(broker, run.prefix + "warwire.raw", items, 200.0)
    time.sleep(n_items / 200.0 / 2)
    run.kill("a")
    th.join()
    out = run.outcome("failover", expected, t0)
    out.notes.append("worker a killed for good halfway; b took its partitions")
    out.dead_letters = len(run.dead_letters())
    run.stop_all()
    rx.close()
    return out


def broker_scenario(broker: h.Broker, work: Path, outage_s: float = 30.0, seconds: float = 90.0) -> Outcome:
    """A feed that grows by two entries a second, polled by `warwire connect` every 10 s (the
shortest interval warwire allows)."""
    if broker.data is None:
        return Outcome("broker", 0, 0, 0, notes=["skipped: needs a broker this script starts (unset WARWIRE_BROKER)"])
    from benchmarks.feedserver import GrowingFeed

    feed = GrowingFeed(per_s=2.0)
    rx = Receiver()
    run = Run(broker, work, rx)
    feeds = work / f"feeds-{run.prefix}.yaml"
    feeds.write_text(f"feeds:\n  - url: {feed.url}\n    source: growing\n    lang: en\n"
                     f"    interval: {{min: 10s, max: 10s}}\n    labels: {{expect: \"yes\"}}\n")
    t0 = time.monotonic()
    run.start()
    connect_env = dict(run.env, WARWIRE_FEEDS=str(feeds), WARWIRE_CONNECT_METRICS_PORT="0")
    connector = h.spawn(["-m", "streams.cli", "connect"], connect_env, work / "connect.log")
    time.sleep(seconds / 3)
    broker.stop()
    time.sleep(outage_s)
    broker.start()
    time.sleep(seconds * 2 / 3)
    feed.stop_growing()
    expected = feed.urls()
    out = run.outcome("broker", expected, t0)
    out.notes.append(f"broker down {outage_s:.0f}s; {len(expected)} feed entries published over {seconds:.0f}s")
    alive = [n for n, p in {**run.workers.procs, "connect": connector}.items() if p.poll() is None]
    out.notes.append(f"still running: {', '.join(sorted(alive))}")
    h.stop(connector)
    run.stop_all()
    feed.close()
    rx.close()
    return out


def receiver_scenario(broker: h.Broker, work: Path, n_items: int = 300, down_s: float = 120.0,
                      storm_s: float = 30.0) -> Outcome:
    state = {"phase": "ok", "n": 0}

    def answer() -> tuple[int, dict[str, str]]:
        state["n"] += 1
        if state["phase"] == "storm" and state["n"] % 2:
            return 429, {"Retry-After": "2"}
        return 200, {}

    items, expected = labelled(h.corpus(n_items, seed=13), share=0.5)
    rx = Receiver(answer)
    run = Run(broker, work, rx)
    t0 = time.monotonic()
    run.start()
    rx.down()
    asyncio.run(h.publish_at(broker.bootstrap, run.prefix + "warwire.raw", items, 50.0))
    time.sleep(max(0.0, down_s - (time.monotonic() - t0)))
    state["phase"] = "storm"
    rx.up()
    time.sleep(storm_s)
    state["phase"] = "ok"
    out = run.outcome("receiver", expected, t0, quiet_s=30.0)
    letters = [d for d in run.dead_letters() if "\tdeliver\t" in d["line"]]
    out.dead_letters = len(letters)
    delivered_first = out.received
    replay = subprocess.run([sys.executable, "-m", "streams.cli", "alerts", "dlq", "replay"], env=run.env,
                            capture_output=True, text=True, cwd=h.ROOT, timeout=120)
    rx.wait_quiet(15.0, timeout_s=300)
    out.received = len({u for u in rx.arrivals if u in expected})
    out.duplicates = sum(n - 1 for u, n in rx.counts.items() if u in expected and n > 1)
    # What was missing before the replay may have arrived since: name only what is still missing.
    out.notes = [n for n in out.notes if not n.startswith("missing: ")]
    if expected - set(rx.arrivals):
        out.notes.append("missing after the replay: " + ", ".join(sorted(expected - set(rx.arrivals))[:10]))
    reasons = sorted({d["line"].rsplit("\t", 1)[-1].split(":")[0] for d in letters})
    out.notes.append(f"down {down_s:.0f}s then 429 storm {storm_s:.0f}s: {delivered_first} delivered within the retry "
                     f"budget, {len(letters)} dead-lettered ({'; '.join(reasons) or '-'}), then "
                     f"`dlq replay`: {replay.stdout.strip() or replay.stderr.strip()}")
    run.stop_all()
    rx.close()
    return out


POISON = [b"not json at all", b'{"title": "no id"}', b'{"id": 5, "title": ["wrong", "types"]}',
          b"\xff\xfe\x00 invalid utf-8", b"[1, 2, 3]", None, b'{"id": "big", "title": "' + b"x" * 5_000_000 + b'"}']


def poison_scenario(broker: h.Broker, work: Path, n_items: int = 200) -> Outcome:
    items, expected = labelled(h.corpus(n_items, seed=14), share=0.5)
    rx = Receiver()
    run = Run(broker, work, rx)
    topic = run.prefix + "warwire.raw"
    asyncio.run(_allow_big(broker.bootstrap, topic))
    t0 = time.monotonic()
    run.start()
    asyncio.run(_publish_mixed(broker.bootstrap, topic, items, POISON))
    out = run.outcome("poison", expected, t0)
    letters = [d["line"] for d in run.dead_letters()]
    poison_letters = [line for line in letters if "\tanalyze\t" in line]
    out.dead_letters = len(poison_letters)
    out.notes.append(f"{len(POISON)} poison records, {len(poison_letters)} dead-lettered: "
                     + " | ".join(sorted({line.rsplit(chr(9), 1)[-1][:60] for line in poison_letters})))
    run.stop_all()
    rx.close()
    return out


async def _allow_big(bootstrap: str, topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                  configs={"max.message.bytes": str(8 * 1024 * 1024)})])
    finally:
        await admin.close()


async def _publish_mixed(bootstrap: str, topic: str, items: list[NewsItem], poison: list[bytes | None]) -> None:
    from aiokafka import AIOKafkaProducer

    from streams.schema import encode

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=8 * 1024 * 1024, acks="all")
    await producer.start()
    try:
        step = max(1, len(items) // (len(poison) + 1))
        bad = iter(poison)
        for i, it in enumerate(items):
            await producer.send_and_wait(topic, key=it.id.encode(), value=encode(it))
            if i % step == step - 1 and (p := next(bad, "done")) != "done":
                await producer.send_and_wait(topic, key=f"poison-{i}".encode(), value=p)  # type: ignore[arg-type]
    finally:
        await producer.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="kill,failover,broker,receiver,poison")
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--json", default=str(h.ROOT / "var" / "bench" / "faults.json"))
    ap.add_argument("--keep", metavar="DIR", help="keep the workers' logs and state in DIR")
    args = ap.parse_args()
    chosen = args.only.split(",")
    results: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="warwire-faults-") as tmp, h.broker() as broker:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        scenarios = {"kill": lambda: kill_scenario(broker, work, args.items, args.kills),
                     "failover": lambda: failover_scenario(broker, work, max(2000, args.items // 4)),
                     "broker": lambda: broker_scenario(broker, work),
                     "receiver": lambda: receiver_scenario(broker, work),
                     "poison": lambda: poison_scenario(broker, work)}
        for name in chosen:
            res = scenarios[name]()
            results.append(res)
            print(res.row(), flush=True)
    payload = [{**r.__dict__, "lost": r.lost} for r in results]
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(payload, indent=2))
    print(json.dumps(payload))
    sys.exit(1 if any(r.lost for r in results) else 0)


if __name__ == "__main__":
    main()
