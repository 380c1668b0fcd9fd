"""`warwire worker`: the faust stream worker (tag → dedupe → rules → delivery) in this process."""

from __future__ import annotations

import asyncio
import logging
import os

from streams import logs
from streams.config import load_settings


def main(loglevel: str = "info") -> None:
    settings = load_settings()
    logs.configure(settings.log_format, getattr(logging, loglevel.upper(), logging.INFO))
    from streams.topics import ensure_topics, wait_for_broker

    asyncio.run(wait_for_broker(settings.bootstrap))
    asyncio.run(ensure_topics(settings))
    import faust

    from streams.config import worker_id
    from streams.wiring import build_worker

    built = build_worker(settings, worker_id(os.environ.get("WARWIRE_WORKER_ID")))

    class Worker(faust.Worker):
        def _setup_logging(self) -> None:
            # faust would install its own handlers; keep the structlog ones set up above.
            pass

    settings.worker_data.mkdir(parents=True, exist_ok=True)
    worker = Worker(built.app, loglevel=loglevel, redirect_stdouts=False, quiet=True)
    worker.execute_from_commandline()
