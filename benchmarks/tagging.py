"""Tagging cost with the shipped taxonomy against the same taxonomy plus 10,000 more terms.

    .venv/bin/python -m benchmarks.tagging [--terms 10000] [--rounds 7]

Target (issue 14; 1.5x in issues 4 and 7): the 10,000-term taxonomy costs at most 1.2x the shipped one. Rounds
alternate between the two; the figure is the ratio of medians. The extra terms are pseudo-words
in the five languages' alphabets, spread over the three topics, so they are compiled and searched
like real terms but rarely match.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import replace
from pathlib import Path

from streams.core.tagging import TermSpec, compile_taxonomy, load_taxonomy, tag
from streams.schema import NewsItem

ROOT = Path(__file__).resolve().parent.parent
ALPHABETS = {"de": "abcdefghijklmnopqrstuvwxyzäöüß", "en": "abcdefghijklmnopqrstuvwxyz",
             "fr": "abcdefghijklmnopqrstuvwxyzéèàç", "ru": "абвгдежзиклмнопрстуфхцчшщыэюя",
             "uk": "абвгдежзиіїйклмнопрстуфхцчшщьєюя"}


def corpus() -> list[NewsItem]:
    from connectors.core.parse import parse_feed
    from connectors.feeds import load_feeds

    items = []
    from datetime import UTC, datetime

    for f in load_feeds(ROOT / "config" / "feeds.demo.yaml", {"demo": "http://127.0.0.1:1"}):
        body = (ROOT / "connectors" / "demo" / f.url.rsplit("/", 1)[1]).read_bytes()
        items.extend(parse_feed(body, {}, f, datetime.now(UTC)).items)
    return items * 20


def bigger(spec, n: int, seed: int = 7):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    topics = list(spec.topics)
    extra: dict[str, list[TermSpec]] = {t.id: [] for t in topics}
    for i in range(n):
        lang = rng.choice(list(ALPHABETS))
        words = " ".join("".join(rng.choice(ALPHABETS[lang]) for _ in range(rng.randint(5, 11)))
                         for _ in range(rng.choice((1, 1, 1, 2, 3))))
        extra[topics[i % len(topics)].id].append(TermSpec(text=words, lang=lang))
    return replace(spec, version=spec.version + "+big",
                   topics=tuple(replace(t, terms=t.terms + tuple(extra[t.id])) for t in topics))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--terms", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    spec = load_taxonomy(ROOT / "config" / "topics.yaml")
    t0 = time.perf_counter()
    small = compile_taxonomy(spec)
    t_small = time.perf_counter() - t0
    t0 = time.perf_counter()
    big = compile_taxonomy(bigger(spec, args.terms))
    t_big = time.perf_counter() - t0
    items = corpus()
    assert [tag(small, i).topics for i in items] == [tag(big, i).topics for i in items], "extra terms changed results"
    s_times, b_times = [], []
    for _ in range(args.rounds):
        for tax, times in ((small, s_times), (big, b_times)):
            t0 = time.perf_counter()
            for it in items:
                tag(tax, it)
            times.append(time.perf_counter() - t0)
    s, b = statistics.median(s_times), statistics.median(b_times)
    result = {"items": len(items), "shipped_patterns": small.n_patterns, "big_patterns": big.n_patterns,
              "shipped_us_per_item": round(s / len(items) * 1e6, 1), "big_us_per_item": round(b / len(items) * 1e6, 1),
              "ratio_big_to_shipped": round(b / s, 3), "compile_s_shipped": round(t_small, 3),
              "compile_s_big": round(t_big, 3), "target_ratio": 1.2}
    print(f"shipped taxonomy: {small.n_patterns:>6} patterns, {result['shipped_us_per_item']:>7} us/item")
    print(f"+{args.terms} terms:     {big.n_patterns:>6} patterns, {result['big_us_per_item']:>7} us/item")
    print(f"ratio (big/shipped): {result['ratio_big_to_shipped']} (target <= 1.2)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
