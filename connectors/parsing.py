"""Feed parsing in helper processes: off the connector's event loop, bounded in time and memory.

feedparser is pure Python: a 5 MB feed takes seconds and a 100,000-entry feed tens of seconds of
CPU. On the event loop that would stall every other feed, `/metrics` and the producer. Here each
parse runs in one of `processes` helper processes; a parse that takes longer than `timeout_s` has
its helper killed (and started again for the next feed) and fails as FeedParseError; a helper's
address space is capped at `memory_bytes`, so a parse that would need more fails with a
MemoryError in the helper, not in the connector. Two helpers by default, so one feed at its time
bound never holds up the others (a helper holds about 60 MB idle, 170 MB at most for a 5 MB feed).
`processes = 0` parses in-process (tests, tools).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import resource
import signal
import time
from collections.abc import Mapping
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from connectors.core.parse import FeedParseError, Parsed, parse_feed
from connectors.feeds import FeedSpec
from streams import logs

log = logs.get("warwire.connect")
TIMEOUT_S = 10.0
MEMORY_BYTES = 1 << 30


def _serve(conn: Connection, memory_bytes: int) -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    while True:
        try:
            body, headers, feed, now = conn.recv()
        except EOFError:
            return
        try:
            result: tuple[str, Any] = ("ok", parse_feed(body, headers, feed, now))
        except FeedParseError as exc:
            result = ("refused", str(exc))
        except MemoryError:
            result = ("refused", f"parsing needed more than {memory_bytes >> 20} MiB")
        except Exception as exc:  # noqa: BLE001 - reported to the connector as a parse error
            result = ("refused", f"parser failed: {type(exc).__name__}: {str(exc)[:200]}")
        del body
        conn.send(result)


class _Helper:
    def __init__(self, memory_bytes: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, memory_bytes), daemon=True, name="warwire-feed-parser")
        self.proc.start()
        child.close()

    def call(self, request: tuple[Any, ...], timeout_s: float) -> tuple[str, Any] | None:
        """The helper's answer, or None when it took longer than `timeout_s` or died (noticed
        within a quarter of a second, not at the end of the bound)."""
        deadline = time.monotonic() + timeout_s
        try:
            self.conn.send(request)
            while (left := deadline - time.monotonic()) > 0:
                if self.conn.poll(min(0.25, left)):
                    return self.conn.recv()  # type: ignore[no-any-return]
                if not self.proc.is_alive():
                    return None
        except (EOFError, OSError, BrokenPipeError):
            return None
        return None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class FeedParser:
    """A pool of parsing helpers (module docstring)."""

    def __init__(self, processes: int = 2, timeout_s: float = TIMEOUT_S, memory_bytes: int = MEMORY_BYTES) -> None:
        self.processes, self.timeout_s, self.memory_bytes = processes, timeout_s, memory_bytes
        self._idle: asyncio.Queue[_Helper | None] | None = None

    async def parse(self, body: bytes, headers: Mapping[str, str], feed: FeedSpec, now: datetime) -> Parsed:
        if self.processes <= 0:
            return parse_feed(body, headers, feed, now)
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self.processes):
                self._idle.put_nowait(None)  # started on first use
        slot = await self._idle.get()
        helper = slot
        try:
            if helper is None:
                helper = await asyncio.to_thread(_Helper, self.memory_bytes)
            t0 = time.monotonic()
            answer = await asyncio.to_thread(helper.call, (body, dict(headers), feed, now), self.timeout_s)
            if answer is None:
                alive = helper.proc.is_alive()
                await asyncio.to_thread(helper.kill)
                helper = None
                if alive:
                    raise FeedParseError(f"refused: parsing took longer than {self.timeout_s:g}s (stopped)")
                raise FeedParseError("refused: the parser process died on this feed")
            kind, value = answer
            if kind != "ok":
                raise FeedParseError(value)
            log.debug("feed_parsed", feed=feed.url, seconds=round(time.monotonic() - t0, 3))
            return value  # type: ignore[no-any-return]
        except asyncio.CancelledError:
            if helper is not None:  # its thread may still be waiting on it: never reuse it
                helper.kill()
                helper = None
            raise
        finally:
            self._idle.put_nowait(helper)

    async def close(self) -> None:
        if self._idle is None:
            return
        while not self._idle.empty():
            helper = self._idle.get_nowait()
            if helper is not None:
                await asyncio.to_thread(helper.kill)
        self._idle = None
