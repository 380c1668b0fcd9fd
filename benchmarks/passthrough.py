"""The faust pass-through baseline: a chain of agents that decode each record and send it on,
with warwire's own app settings (streams.app.create_app), and nothing else.

    python -m benchmarks.passthrough        (run by benchmarks.pipeline; reads its settings from
                                             WARWIRE_* and BENCH_HOPS)

Hop i reads `<prefix>warwire.raw` (i = 0) or `<prefix>bench.pass<i>`, decodes the NewsItem, encodes
it and sends it to `<prefix>bench.pass<i+1>`, keyed as it came. Like warwire's agents, each hop
works through its stream in batches and waits for the broker to confirm a batch's records before
its offsets can be committed.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import faust

from streams.app import LagMonitor, create_app
from streams.config import load_settings
from streams.schema import NewsItem, decode, encode

settings = load_settings()
HOPS = int(os.environ.get("BENCH_HOPS", "2"))
app = create_app(settings, app_id="bench-pass")
app.monitor = LagMonitor()  # the worker's monitor, so both pay the same per-message bookkeeping


def _topic(name: str) -> Any:
    return app.topic(settings.topic(name), key_type=bytes, value_type=bytes, key_serializer="raw",
                     value_serializer="raw", partitions=settings.partitions)


topics = [_topic("warwire.raw")] + [_topic(f"bench.pass{i}") for i in range(1, HOPS + 1)]


def _hop(i: int) -> None:
    out = topics[i + 1]

    async def hop(stream: Any) -> None:
        async for events in stream.take_events(500, within=0.05):
            futs = []
            for ev in events:
                item = decode(NewsItem, ev.value)
                futs.append(await out.send(key=ev.key, value=encode(item)))
            await asyncio.gather(*futs)

    hop.__name__ = hop.__qualname__ = f"hop{i}"
    app.agent(topics[i], name=f"bench.pass.hop{i}", concurrency=1)(hop)


for _i in range(HOPS):
    _hop(_i)


def main() -> None:
    import logging

    from streams import logs

    level = os.environ.get("BENCH_LOGLEVEL", "warning")
    logs.configure("json", getattr(logging, level.upper()))

    class Worker(faust.Worker):
        def _setup_logging(self) -> None:
            pass

    settings.worker_data.mkdir(parents=True, exist_ok=True)
    Worker(app, loglevel=level, redirect_stdouts=False, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
