"""Dedupe state per item, and a worker's memory while many items stream.

    .venv/bin/python -m benchmarks.state [--items 50000]                 state bytes per item
    .venv/bin/python -m benchmarks.state --memory 300000 [--horizon 2m]  worker RSS every 10 %

State: the corpus through stage 2's own `decide` (streams.core.pipeline, with the shipped rules)
into a dict with the worker's keys and values; bytes of keys plus values per item, by key kind.

Memory: the corpus preloaded on a real broker and run through a real `warwire worker` (and its
analyzer helper) with a short dedupe horizon; the resident memory of the worker's process tree is
sampled as the items are processed. Bounded means: after warm-up it stops growing, although every
item adds state (old records are ignored after the horizon and dropped by RocksDB's TTL and the
changelog's retention; RocksDB's memtables and caches have fixed sizes, streams/app.py).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks import harness as h


def state_per_item(n: int) -> dict[str, object]:
    from alerts.engine import compile_rules
    from alerts.loader import load_rules
    from streams.core.pipeline import MemoryState
    from streams.core.tagging import compile_taxonomy, load_taxonomy

    tax = compile_taxonomy(load_taxonomy(h.ROOT / "config" / "topics.yaml"))
    rules = compile_rules(load_rules([h.ROOT / "rules"], tax.spec.topic_ids))
    st = MemoryState()
    t0 = 1_700_000_000.0
    for i, item in enumerate(h.corpus(n, seed=21)):
        st.run(item, tax, rules, t0 + i * 0.5)  # 2 items a second: all within a 7-day horizon
    by_kind: Counter[str] = Counter()
    for k, v in st.data.items():
        by_kind[k.split(":", 1)[0]] += len(k) + len(v)
    total = sum(by_kind.values())
    return {"items": n, "bytes_per_item": round(total / n, 1), "keys_per_item": round(len(st.data) / n, 2),
            "bytes_per_item_by_kind": {k: round(v / n, 1) for k, v in sorted(by_kind.items())}}


def _rss_kb(pid: int) -> int:
    total = 0
    pids = [pid] + [int(p.parent.name) for p in Path("/proc").glob("[0-9]*/status")
                    if f"\nPPid:\t{pid}\n" in _read(p)]
    for p in pids:
        for line in _read(Path(f"/proc/{p}/status")).splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def _read(p: Path) -> str:
    try:
        return p.read_text()
    except OSError:
        return ""


def memory(n: int, horizon: str) -> dict[str, object]:
    from benchmarks.pipeline import _metric, prepare

    items = h.corpus(n, seed=22)
    samples: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="warwire-mem-") as tmp, h.broker() as broker:
        work = Path(tmp)
        px = prepare(broker, items, [])
        port = str(h.free_port())
        env = h.worker_env(broker.bootstrap, px, work / "state", WARWIRE_METRICS_PORT=port, WARWIRE_PARTITIONS="4",
                           WARWIRE_DEDUPE_HORIZON=horizon)
        proc = h.spawn(["-m", "streams.cli", "worker"], env, work / "worker.log")
        try:
            next_mark = n // 10
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                done = _metric(port, "warwire_pipeline_items_total")
                if done >= next_mark:
                    samples.append((int(done), round(_rss_kb(proc.pid) / 1024, 1)))
                    print(f"{int(done):>9} items: {samples[-1][1]:>7.1f} MiB", flush=True)
                    next_mark += n // 10
                if done >= n:
                    break
                time.sleep(1)
            du = sum(f.stat().st_size for f in (work / "state").rglob("*") if f.is_file())
        finally:
            h.stop(proc)
    first_half = [m for d, m in samples if d <= n // 2]
    second_half = [m for d, m in samples if d > n // 2]
    return {"items": n, "horizon": horizon, "rss_mib_by_items": samples,
            "rss_growth_second_half_mib": round(max(second_half) - max(first_half), 1) if first_half and second_half else None,
            "rocksdb_mib_at_end": round(du / 2**20, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--memory", type=int, metavar="N", help="stream N items through a real worker, sampling its memory")
    ap.add_argument("--horizon", default="2m", help="with --memory: the dedupe horizon")
    args = ap.parse_args()
    out: dict[str, object] = {"state": state_per_item(args.items)}
    s = out["state"]
    print(f"dedupe state: {s['bytes_per_item']} bytes per item, {s['keys_per_item']} keys per item "  # type: ignore[index]
          f"({', '.join(f'{k}: {v}' for k, v in s['bytes_per_item_by_kind'].items())})")  # type: ignore[index]
    if args.memory:
        out["memory"] = memory(args.memory, args.horizon)
        m = out["memory"]
        print(f"worker memory growth over the second half: {m['rss_growth_second_half_mib']} MiB; "  # type: ignore[index]
              f"RocksDB on disk at the end: {m['rocksdb_mib_at_end']} MiB")  # type: ignore[index]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
