"""Parse + normalise throughput against plain feedparser.parse on the same bytes, same run.

    .venv/bin/python -m benchmarks.parse [--items 200] [--rounds 15]

Rounds alternate between the two so that machine noise hits both alike; the figure that counts
is the ratio of medians.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from datetime import UTC, datetime

import feedparser

from connectors.core.parse import parse_feed
from connectors.feeds import FeedSpec

SUMMARY = ("<p>Nato-Generalsekretär <b>Jens Stoltenberg</b> hat bei einem unangekündigten Besuch in Kiew den "
           "ukrainischen Truppen allmähliche Geländegewinne bescheinigt. &laquo;Ihre Truppen kommen voran&raquo;, "
           "sagte er. Selenskyj bat um weitere Hilfe bei der Luftverteidigung.</p><p>Mehr auf "
           "<a href='https://www.welt.de/?utm_source=rss'>WELT</a>.</p>")


def feed_bytes(n: int) -> bytes:
    items = "".join(
        f"<item><guid isPermaLink='false'>id-{i}</guid><title>Meldung {i}: Stoltenberg in Kiew &amp; Luftverteidigung</title>"
        f"<link>https://www.welt.de/politik/article{i}.html?utm_source=rss&amp;fbclid=x{i}#top</link>"
        f"<description><![CDATA[{SUMMARY}]]></description><pubDate>Thu, 28 Sep 2023 14:{i % 60:02d}:00 GMT</pubDate></item>"
        for i in range(n))
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>WELT</title>'
            f"<link>https://www.welt.de/</link><description>d</description>{items}</channel></rss>").encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    body = feed_bytes(args.items)
    spec = FeedSpec(url="http://127.0.0.1/bench", source="WELT", lang="de")
    now = datetime.now(UTC)
    plain, ours = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        d = feedparser.parse(io.BytesIO(body), response_headers={"content-type": "application/rss+xml"})
        plain.append(time.perf_counter() - t0)
        assert len(d.entries) == args.items
        t0 = time.perf_counter()
        parsed = parse_feed(body, {"Content-Type": "application/rss+xml"}, spec, now)
        ours.append(time.perf_counter() - t0)
        assert len(parsed.items) == args.items
    p, o = statistics.median(plain), statistics.median(ours)
    result = {"items_per_feed": args.items, "bytes": len(body), "rounds": args.rounds,
              "feedparser_items_per_s": round(args.items / p), "warwire_items_per_s": round(args.items / o),
              "ratio_warwire_to_feedparser": round(p / o, 3)}
    print(f"plain feedparser.parse:   {result['feedparser_items_per_s']:>8} items/s")
    print(f"warwire parse+normalise:  {result['warwire_items_per_s']:>8} items/s")
    print(f"ratio (warwire/feedparser throughput): {result['ratio_warwire_to_feedparser']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
