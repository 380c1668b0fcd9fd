"""Stage 2's pure cost per item: dedupe (copy and story tiers) and rules, on the pipeline
benchmark's corpus, with dict-backed state. Prints µs per item for stage 1 and stage 2.

    python -m benchmarks.decide [--items N] [--rounds R]

A figure to compare versions with on one machine, not a target (the pipeline benchmark is).
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks import harness as h
from streams.config import Settings
from streams.core.pipeline import MemoryState, analyze, decide
from streams.core.tagging import compile_taxonomy, load_taxonomy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    settings = Settings()
    tax = compile_taxonomy(load_taxonomy(settings.taxonomy))
    items = h.corpus(args.items)
    stage1, stage2 = [], []
    for _ in range(args.rounds):
        t0 = time.process_time()
        analyzed = [analyze(i, tax) for i in items]
        t1 = time.process_time()
        state = MemoryState()
        for a in analyzed:
            res = decide(a, rules=None, get_many=state.get_many, now=a.item.published.timestamp(),
                         horizon_s=settings.horizon_s)
            state.data.update(res.writes)
        t2 = time.process_time()
        stage1.append((t1 - t0) / len(items) * 1e6)
        stage2.append((t2 - t1) / len(items) * 1e6)
    print(f"stage 1 (analyze): {statistics.median(stage1):.0f} µs/item  rounds {[round(x) for x in stage1]}")
    print(f"stage 2 (decide):  {statistics.median(stage2):.0f} µs/item  rounds {[round(x) for x in stage2]}")


if __name__ == "__main__":
    main()
