"""warwire's pipeline against a raw aiokafka chain and a faust pass-through, on one real broker.

    .venv/bin/python -m benchmarks.pipeline [--items 20000] [--rounds 2] [--json var/bench/pipeline.json]
                                            [--latency-seconds 30 --latency-rate 200] [--scale-out]

Every row processes the same `--items` items (benchmarks.harness.corpus: five languages, 30 %
on a tracked topic, 20 % reworded copies), preloaded on its own raw topic, with 4 partitions:

  raw chain         2 hops of consume → decode → encode → produce (benchmarks/rawchain.py)
  faust pass-through 2 agents that decode and send on, warwire's app settings (benchmarks/passthrough.py)
  warwire           `warwire worker` with the shipped taxonomy and rules: raw → analyze (tag,
                    fingerprint) → analyzed → decide (dedupe, stories, rules) → alerts, plus delivery
                    of every alert to the console
  warwire, no alerts the same with a rule that never fires: the tag and dedupe stages alone (issue 4)

Throughput is items over the time from the first to the last item processed, read every 0.25 s
from the output topic's end offsets (baselines) or the worker's `warwire_pipeline_items_total`.
Rounds alternate the rows; the figures are medians. CPU is the worker process and its children
(the analyzer helpers), in cores, over the same window. `--latency-seconds` adds end-to-end latency
from publish on the raw topic to receipt at a local webhook at a steady `--latency-rate`;
`--scale-out` adds one worker against two on the same partitions (both rows load the items once
every worker is ready and the group has settled: a second worker joining mid-run is a rebalance).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from benchmarks import harness as h
from streams.config import load_settings
from streams.topics import ensure_topics

HOPS = 2
PARTITIONS = 4
SETTLE_S = 8.0  # a joining member's rebalance: session timeout is 20 s, the join itself takes a few
NEVER = "rules:\n  - name: never\n    type: match\n    sources: [no-such-source]\n"  # valid, matches no item


def _cpu_s(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its live children (the analyzer helpers)."""
    total = _cpu_s(pid)
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"\nPPid:\t{pid}\n" in status.read_text():
                total += _cpu_s(int(status.parent.name))
        except OSError:
            continue
    return total


async def _end_offsets(bootstrap: str, topic: str) -> int:
    from aiokafka import AIOKafkaConsumer

    from streams.kafka import partitions_of

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        return sum((await consumer.end_offsets(await partitions_of(consumer, topic))).values())
    finally:
        await consumer.stop()


def _metric(port: str, name: str) -> float:
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(name + "{"))


BROKER_PID: int | None = None  # set by main: the broker's CPU is reported beside each row's


def measure(count: Callable[[], float], n: int, pids: list[int], timeout_s: float = 300.0,
            log: Path | None = None, note: Callable[[], str] = lambda: "") -> dict[str, float]:
    """Poll `count` until it reaches `n`: items/s between the first poll that saw progress and
    the one that saw the last item, and the CPU the processes (and the broker) used over that
    window."""
    deadline = time.monotonic() + timeout_s
    first: tuple[float, float, float, float] | None = None
    last = (0.0, 0.0, 0.0, 0.0)

    def broker_cpu() -> float:
        return _cpu_s(BROKER_PID) if BROKER_PID else 0.0

    while time.monotonic() < deadline:
        c, now = count(), time.monotonic()
        if c > 0 and first is None:
            first = (now, c, sum(map(tree_cpu_s, pids)), broker_cpu())
        if c >= n:
            last = (now, c, sum(map(tree_cpu_s, pids)), broker_cpu())
            break
        time.sleep(0.25)
    else:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log and log.exists() else ""
        raise TimeoutError(f"only {count():.0f} of {n} items processed within {timeout_s:.0f}s {note()}\n{tail}")
    assert first is not None
    dt = max(last[0] - first[0], 1e-6)
    return {"items_per_s": round((last[1] - first[1]) / dt, 1), "cpu_cores": round((last[2] - first[2]) / dt, 2),
            "broker_cpu_cores": round((last[3] - first[3]) / dt, 2), "seconds": round(dt, 2)}


def prepare(broker: h.Broker, items: list, extra_topics: list[str]) -> str:  # type: ignore[type-arg]
    px = h.prefix()
    env = dict(os.environ, WARWIRE_BROKER=broker.bootstrap, WARWIRE_TOPIC_PREFIX=px, WARWIRE_PARTITIONS=str(PARTITIONS))
    asyncio.run(ensure_topics(load_settings(env=env)))
    if extra_topics:
        asyncio.run(h.create_topics(broker.bootstrap, [px + t for t in extra_topics], PARTITIONS))
    asyncio.run(h.load(broker.bootstrap, px + "warwire.raw", items))
    return px


def run_raw_chain(broker: h.Broker, items: list, work: Path) -> dict[str, float]:  # type: ignore[type-arg]
    px = prepare(broker, items, [f"bench.raw{i}" for i in range(1, HOPS + 1)])
    argv = ["-m", "benchmarks.rawchain", broker.bootstrap, px + "warwire.raw", px + "bench.raw", str(HOPS)]
    return _run_baseline(broker, len(items), argv, dict(os.environ), px + f"bench.raw{HOPS}", work / "rawchain.log")


def run_passthrough(broker: h.Broker, items: list, work: Path) -> dict[str, float]:  # type: ignore[type-arg]
    px = prepare(broker, items, [f"bench.pass{i}" for i in range(1, HOPS + 1)])
    env = h.worker_env(broker.bootstrap, px, work / f"pass-{px}", WARWIRE_PARTITIONS=str(PARTITIONS),
                       BENCH_HOPS=str(HOPS))
    return _run_baseline(broker, len(items), ["-m", "benchmarks.passthrough"], env, px + f"bench.pass{HOPS}",
                         work / "passthrough.log")


def _run_baseline(broker: h.Broker, n: int, argv: list[str], env: dict[str, str], out: str,
                  log: Path) -> dict[str, float]:
    """Run a baseline process until its last topic holds all `n` records."""
    proc = h.spawn(argv, env, log)
    try:
        return measure(lambda: asyncio.run(_end_offsets(broker.bootstrap, out)), n, [proc.pid], log=log)
    finally:
        h.stop(proc)


def run_warwire(broker: h.Broker, items: list, work: Path, rules: Path | None = None,  # type: ignore[type-arg]
                workers: int = 1, live: bool = False) -> dict[str, float]:
    """Items preloaded, as for the baselines; or (`live`, the scale-out rows) loaded once every
    worker is ready and the group has settled, so that two workers' figure is processing, not a
    rebalance between the first worker's start and the second's."""
    px = prepare(broker, [] if live else items, [])
    ports = [str(h.free_port()) for _ in range(workers)]
    sup = h.Supervised()
    for i, port in enumerate(ports):
        extra = {"WARWIRE_METRICS_PORT": port, "WARWIRE_PARTITIONS": str(PARTITIONS), "WARWIRE_WORKER_ID": str(i)}
        if rules is not None:
            extra["WARWIRE_RULES"] = str(rules)
        env = h.worker_env(broker.bootstrap, px, work / f"warwire-{px}", **extra)
        sup.start(str(i), ["-m", "streams.cli", "worker"], env, work / f"warwire-{px}-{i}.log")
    try:
        for port in ports if live else []:
            h.wait_ready(port, 120)
        if live:
            if workers > 1:
                time.sleep(SETTLE_S)
            asyncio.run(h.load(broker.bootstrap, px + "warwire.raw", items))
        restarts = sup.restarts
        res = measure(lambda: sum(_metric(p, "warwire_pipeline_items_total") for p in ports), len(items),
                      sup.pids(), log=work / f"warwire-{px}-0.1.log",
                      note=lambda: f"workers restarted during the run: {sup.restarts - restarts}")
        res["worker_restarts"] = sup.restarts
        return res
    finally:
        sup.stop()


def latency(broker: h.Broker, work: Path, rate: float, seconds: float) -> dict[str, float]:
    """Publish corpus items at a steady `rate` and time each alert's arrival at a local webhook."""
    from benchmarks.webhook import Receiver

    items = h.corpus(int(rate * seconds) + 1, seed=7)
    px = prepare(broker, [], [])
    rx = Receiver()
    port = str(h.free_port())
    env = h.worker_env(broker.bootstrap, px, work / f"latency-{px}", WARWIRE_METRICS_PORT=port,
                       WARWIRE_PARTITIONS=str(PARTITIONS), WARWIRE_WEBHOOK_URL=rx.url)
    proc = h.spawn(["-m", "streams.cli", "worker"], env, work / "latency-worker.log")
    try:
        h.wait_ready(port, 120)
        sent = asyncio.run(h.publish_at(broker.bootstrap, px + "warwire.raw", items, rate))
        expected = rx.wait_quiet(10.0)
        lat = sorted(rx.arrivals[url] - sent[url] for url in rx.arrivals if url in sent)
    finally:
        h.stop(proc)
        rx.close()
    if not lat:
        raise RuntimeError("no alert reached the webhook")

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1)

    return {"rate_items_per_s": rate, "items": len(items), "alerts_received": len(lat), "received_total": expected,
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": round(lat[-1] * 1000, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", default=str(h.ROOT / "var" / "bench" / "pipeline.json"))
    ap.add_argument("--latency-seconds", type=float, default=0.0)
    ap.add_argument("--latency-rate", type=float, default=200.0)
    ap.add_argument("--scale-out", action="store_true")
    ap.add_argument("--only", help="comma-separated rows to run (raw,pass,warwire,noalerts)")
    args = ap.parse_args()
    items = h.corpus(args.items)
    rows: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="warwire-bench-") as tmp, h.broker() as broker:
        work = Path(tmp)
        global BROKER_PID
        BROKER_PID = broker.pid()
        never = work / "never"
        never.mkdir()
        (never / "never.yaml").write_text(NEVER)
        runs = {"raw": lambda: run_raw_chain(broker, items, work), "pass": lambda: run_passthrough(broker, items, work),
                "warwire": lambda: run_warwire(broker, items, work),
                "noalerts": lambda: run_warwire(broker, items, work, rules=never)}
        if args.scale_out:
            runs["warwire_1_worker_live"] = lambda: run_warwire(broker, items, work, live=True)
            runs["warwire_2_workers"] = lambda: run_warwire(broker, items, work, workers=2, live=True)
        chosen = args.only.split(",") if args.only else list(runs)
        for r in range(args.rounds):
            for name in chosen:
                res = runs[name]()
                rows.setdefault(name, []).append(res)
                print(f"round {r + 1}: {name:<18} {res['items_per_s']:>8.0f} items/s  cpu {res['cpu_cores']:.2f} cores"
                      f" (broker {res['broker_cpu_cores']:.2f})",
                      flush=True)
        lat = latency(broker, work, args.latency_rate, args.latency_seconds) if args.latency_seconds else None
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in rows.items()}
    result: dict[str, object] = {"items": args.items, "rounds": args.rounds, "hops": HOPS, "partitions": PARTITIONS,
                                 "rows": med, "cpus": os.cpu_count()}
    ratios = {}
    if "pass" in med:
        for name in ("warwire", "noalerts", "warwire_2_workers"):
            if name in med:
                ratios[f"{name}_to_passthrough"] = round(med[name]["items_per_s"] / med["pass"]["items_per_s"], 3)
    if "raw" in med and "warwire" in med:
        ratios["warwire_to_raw_chain"] = round(med["warwire"]["items_per_s"] / med["raw"]["items_per_s"], 3)
    if "warwire_2_workers" in med and "warwire_1_worker_live" in med:
        ratios["two_workers_to_one"] = round(med["warwire_2_workers"]["items_per_s"]
                                             / med["warwire_1_worker_live"]["items_per_s"], 3)
    result["ratios"] = ratios
    if lat:
        result["latency"] = lat
    print(f"\n{'row':<22}{'items/s':>10}{'cpu cores':>11}{'broker cores':>14}")
    for name, m in med.items():
        print(f"{name:<22}{m['items_per_s']:>10.0f}{m['cpu_cores']:>11.2f}{m['broker_cpu_cores']:>14.2f}")
    for k, v in ratios.items():
        target = {"warwire_to_passthrough": " (target >= 0.8)", "noalerts_to_passthrough": " (target >= 0.8)",
                  "warwire_to_raw_chain": " (target >= 0.25)"}.get(k, "")
        print(f"{k}: {v}{target}")
    if lat:
        print(f"latency at {lat['rate_items_per_s']:.0f} items/s, {lat['alerts_received']} alerts: p50 {lat['p50_ms']} ms, "
              f"p95 {lat['p95_ms']} ms, p99 {lat['p99_ms']} ms (target p99 < 1000 ms)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
