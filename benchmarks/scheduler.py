"""The connectors' CPU cost for many feeds: 5,000 feeds polled from a local server.

    .venv/bin/python -m benchmarks.scheduler [--feeds 5000] [--seconds 60]

A separate process serves every feed URL with an ETag and answers 304 to conditional GETs (what a
well-behaved publisher does most of the time). This process runs the real Poller, with its
fetcher, schedule, jitter and per-host limits, at a 10 s minimum interval. A publisher that never
publishes stands in for Kafka, because nothing is new after the first poll. It reports CPU seconds
used per poll, and as a share of one core, against the same process idling for the same time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import time

from prometheus_client import CollectorRegistry

ITEM = ("<item><guid>{n}</guid><title>Feed {n}: Luftverteidigung und Energieinfrastruktur</title>"
        "<pubDate>Thu, 28 Sep 2023 10:00:00 GMT</pubDate></item>")


def serve(port: int, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    from aiohttp import web

    async def feed(request: web.Request) -> web.Response:
        n = request.match_info["n"]
        etag = f'"{n}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>{n}</title>{ITEM.format(n=n)}</channel></rss>'
        return web.Response(text=body, headers={"ETag": etag}, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/feed/{n}", feed)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


class _NoPublisher:
    health_topic = None
    published = 0

    async def publish(self, items: list) -> None:  # type: ignore[type-arg]
        self.published += len(items)

    async def publish_raw(self, *_: object) -> None:
        return None


async def run(n_feeds: int, seconds: float, port: int, warmup: float = 15.0) -> dict[str, float]:
    from connectors.feeds import FeedSpec
    from connectors.fetch import Fetcher
    from connectors.poller import ConnectorMetrics, Poller

    feeds = [FeedSpec(url=f"http://127.0.0.1:{port}/feed/{i}", source=f"f{i % 50}", lang="de",
                      min_interval_s=10, max_interval_s=10) for i in range(n_feeds)]
    fetcher = Fetcher(per_host=64)
    publisher = _NoPublisher()
    poller = Poller(feeds, fetcher, publisher, ConnectorMetrics(CollectorRegistry()))  # type: ignore[arg-type]
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(warmup)  # first round: every feed fetched in full and parsed once
    cpu0, wall0 = time.process_time(), time.monotonic()
    polls0 = sum(s.poll.last_success is not None for s in poller.state.values())
    before = _polls(poller)
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    polls = _polls(poller) - before
    task.cancel()
    await fetcher.close()
    idle0 = time.process_time()
    await asyncio.sleep(5)
    idle = (time.process_time() - idle0) / 5
    return {"feeds": n_feeds, "seconds": round(wall, 1), "polls": polls, "feeds_polled_once": polls0,
            "polls_per_s": round(polls / wall, 1), "cpu_s": round(cpu, 2), "cpu_share_of_core": round(cpu / wall, 3),
            "cpu_ms_per_poll": round(cpu / max(polls, 1) * 1000, 3), "idle_cpu_share_of_core": round(idle, 4),
            "items_published": publisher.published}


def _polls(poller) -> int:  # type: ignore[no-untyped-def]
    reg = poller.metrics.registry
    return int(sum(s.value for m in reg.collect() if m.name == "warwire_connector_fetches" for s in m.samples
                   if s.name.endswith("_total")))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=15, help="seconds for the first, full round before measuring")
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    ready.wait(30)
    try:
        r = asyncio.run(run(args.feeds, args.seconds, port, args.warmup))
    finally:
        server.terminate()
    print(f"{r['feeds']} feeds at a 10 s interval: {r['polls']} polls in {r['seconds']} s ({r['polls_per_s']}/s)")
    print(f"connector CPU: {r['cpu_s']} s = {r['cpu_share_of_core']:.1%} of one core, {r['cpu_ms_per_poll']} ms per poll")
    print(f"baseline (same process idle): {r['idle_cpu_share_of_core']:.2%} of one core")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
