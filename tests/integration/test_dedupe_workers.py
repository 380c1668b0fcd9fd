"""Dedupe across workers and restarts, on the real broker."""

from __future__ import annotations

import re
import time
import urllib.request

import pytest
from aiokafka.partitioner import murmur2

from streams.schema import NewsItem
from tests.conftest import free_port, publish, wait_until

pytestmark = pytest.mark.kafka
PARTITIONS = 4
BODY = ("Russian missiles struck a thermal power plant in the {city} region overnight, cutting electricity to "
        "tens of thousands of homes, the regional administration said on Tuesday morning.")
CITIES = ["Kharkiv", "Odesa", "Dnipro", "Sumy", "Poltava", "Chernihiv"]


def partition_of(key: str) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS


def key_on(partition: int, stem: str) -> str:
    return next(k for n in range(1000) if partition_of(k := f"{stem}-{n}") == partition)


def pair(city: str, p1: int, p2: int) -> tuple[NewsItem, NewsItem]:
    """The same story from two outlets, reworded, with ids on raw partitions p1 and p2."""
    a = NewsItem(id=key_on(p1, f"a-{city}-{time.time_ns()}"), title=f"Missiles hit power plant near {city}",
                 summary=BODY.format(city=city), lang="en", source="agency", url=f"https://agency.example/{city}")
    b = NewsItem(id=key_on(p2, f"b-{city}-{time.time_ns()}"), title=f"Power plant near {city} hit by missiles",
                 summary=BODY.format(city=city).replace("on Tuesday morning", "on Tuesday"), lang="en",
                 source="broadcaster", url=f"https://broadcaster.example/{city}")
    return a, b


def rewrite(p1: int, p2: int) -> tuple[NewsItem, NewsItem]:
    """One event written by two outlets in their own words (the story tier's case, no copy):
    ids on raw partitions p1 and p2."""
    n = time.time_ns()
    a = NewsItem(id=key_on(p1, f"wire-{n}"), title="Germany pledges two more IRIS-T air defence systems to Ukraine",
                 summary="German Defence Minister Boris Pistorius promised Ukraine two additional IRIS-T SLM air "
                         "defence systems during an unannounced visit to Kyiv on Tuesday, with the first due this "
                         "spring. Pistorius met his Ukrainian counterpart Rustem Umerov.",
                 lang="en", source="wire", url=f"https://wire.example/{n}", labels={"outlet": "wire"})
    b = NewsItem(id=key_on(p2, f"paper-{n}"), title="Pistorius arrives in Kyiv with promise of extra IRIS-T batteries",
                 summary="Boris Pistorius made a surprise trip to the Ukrainian capital, where he told Defence Minister "
                         "Rustem Umerov that Berlin would send two further IRIS-T SLM systems. One of them should be "
                         "handed over in the spring.",
                 lang="en", source="paper", url=f"https://paper.example/{n}", labels={"outlet": "paper"})
    return a, b


def scrape(port: str) -> str:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return ""


def value(body: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(prefix))


def raw_partitions_seen(body: str, topic: str) -> set[int]:
    """Raw partitions this worker has processed and committed a message of."""
    out = set()
    for line in body.splitlines():
        m = re.match(r"warwire_consumer_committed_offset\{(.*)\} (\S+)$", line)
        if m and float(m.group(2)) > 0:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            if labels.get("topic") == topic:
                out.add(int(labels["partition"]))
    return out


def ready(port: str) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200
    except OSError:
        return False


async def test_two_workers_catch_a_near_duplicate_pair_landing_on_partitions_of_different_workers(
        run_env, spawn, kafka, tmp_path) -> None:
    ports = [str(free_port()), str(free_port())]
    envs = [dict(run_env, WARWIRE_WORKER_ID=str(i), WARWIRE_METRICS_PORT=ports[i],
                 WARWIRE_WORKER_DATA=str(tmp_path / f"w{i}")) for i in range(2)]
    for i, env in enumerate(envs):
        spawn(f"worker{i}", ["worker"], env)
    wait_until(lambda: all(ready(p) for p in ports), 90, what="both workers ready")
    prefix = run_env["WARWIRE_TOPIC_PREFIX"]
    raw = f"{prefix}warwire.raw"
    # Learn which worker owns which raw partition: one probe item per partition.
    probes = [NewsItem(id=key_on(p, f"probe-{time.time_ns()}"), title=f"probe {p}", lang="en") for p in range(PARTITIONS)]
    await publish(kafka.bootstrap, prefix, probes)
    wait_until(lambda: len(raw_partitions_seen(scrape(ports[0]), raw) | raw_partitions_seen(scrape(ports[1]), raw))
               == PARTITIONS, 90, what="every raw partition processed")
    owned = [raw_partitions_seen(scrape(p), raw) for p in ports]
    assert owned[0] and owned[1] and not owned[0] & owned[1], owned  # the partitions are split
    a, b = pair("Kharkiv", min(owned[0]), min(owned[1]))
    await publish(kafka.bootstrap, prefix, [a, b])
    near = 'warwire_dedupe_duplicates_total{reason="near"}'
    wait_until(lambda: sum(value(scrape(p), near) for p in ports) >= 1, 60,
               what="the pair to be recognised as one story")
    new = 'warwire_pipeline_items_total{outcome="new"}'
    assert sum(value(scrape(p), new) for p in ports) == PARTITIONS + 1  # the probes and the pair's first item
    # Another outlet's own text about one event, on the other worker's raw partition: one story.
    c, d = rewrite(min(owned[1]), min(owned[0]))
    await publish(kafka.bootstrap, prefix, [c])
    wait_until(lambda: sum(value(scrape(p), new) for p in ports) >= PARTITIONS + 2, 60, what="the wire report")
    await publish(kafka.bootstrap, prefix, [d])
    story = 'warwire_dedupe_duplicates_total{reason="story"}'
    wait_until(lambda: sum(value(scrape(p), story) for p in ports) >= 1, 60,
               what="the rewrite to join the wire report's story")
    assert sum(value(scrape(p), new) for p in ports) == PARTITIONS + 2


async def test_a_restarted_worker_with_empty_local_state_still_recognises_earlier_items(
        run_env, spawn, kafka, tmp_path) -> None:
    first = spawn("worker", ["worker"], run_env)
    port = run_env["WARWIRE_METRICS_PORT"]
    wait_until(lambda: ready(port), 90, what="worker ready")
    a, b = pair("Odesa", 0, 3)
    c, d = rewrite(1, 2)
    await publish(kafka.bootstrap, run_env["WARWIRE_TOPIC_PREFIX"], [a, c])
    wait_until(lambda: value(scrape(port), 'warwire_pipeline_items_total{outcome="new"}') >= 2, 60,
               what="the first items")
    assert first.stop() == 0
    # A new machine: no local RocksDB files; the tables come back from their changelogs.
    env = dict(run_env, WARWIRE_WORKER_DATA=str(tmp_path / "fresh"))
    spawn("worker2", ["worker"], env)
    wait_until(lambda: ready(port), 90, what="restarted worker ready (tables recovered)")
    await publish(kafka.bootstrap, run_env["WARWIRE_TOPIC_PREFIX"], [b, a, d])
    body = lambda: scrape(port)  # noqa: E731
    wait_until(lambda: value(body(), "warwire_dedupe_duplicates_total{") >= 3, 60,
               what="all three to be recognised as earlier items or stories")
    assert value(body(), 'warwire_dedupe_duplicates_total{reason="near"}') == 1
    assert value(body(), 'warwire_dedupe_duplicates_total{reason="id"}') == 1
    assert value(body(), 'warwire_dedupe_duplicates_total{reason="story"}') == 1  # the story's profile came back
    assert value(body(), 'warwire_pipeline_items_total{outcome="new"}') == 0
