"""The connector loop: one task per feed, so a slow or broken feed never delays another.

Per feed: fetch (conditional GET) → parse → drop entries already published → publish → schedule.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from connectors.core import schedule
from connectors.core.parse import FeedParseError
from connectors.feeds import FeedSpec
from connectors.fetch import Fetcher, FetchError, Validators
from connectors.parsing import FeedParser
from connectors.publish import Publisher
from connectors.state import SEEN_KEPT
from streams import logs
from streams.schema import FeedHealth, NewsItem, encode
from streams.schema import FeedState as StoredState

if TYPE_CHECKING:
    from connectors.websub import WebSub

log = logs.get("warwire.connect")
SEEN_PER_FEED = 5000


def content_digest(item: NewsItem) -> str:
    """What a correction changes: title, text and link."""
    return hashlib.blake2b(f"{item.title}\x00{item.summary}\x00{item.url}".encode(), digest_size=8).hexdigest()


class ConnectorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.fetches = Counter("warwire_connector_fetches_total", "Feed fetches, by feed and outcome",
                               ["feed", "outcome"], registry=registry)
        self.published = Counter("warwire_connector_items_published_total", "Items published, by feed",
                                 ["feed"], registry=registry)
        self.parse_errors = Counter("warwire_connector_parse_errors_total", "Feeds that failed or partly failed to parse",
                                    ["feed", "kind"], registry=registry)
        self.bytes = Counter("warwire_connector_fetched_bytes_total", "Body bytes fetched, by feed",
                             ["feed"], registry=registry)
        self.latency = Histogram("warwire_connector_fetch_seconds", "Fetch latency, by feed", ["feed"],
                                 registry=registry, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.last_success = Gauge("warwire_connector_last_success_timestamp_seconds",
                                  "When each feed was last fetched successfully", ["feed"], registry=registry)
        self.healthy = Gauge("warwire_connector_feed_healthy", "1 when the feed's recent fetches work",
                             ["feed"], registry=registry)
        self.pushes = Counter("warwire_connector_websub_notifications_total", "WebSub content pushes, by feed and outcome",
                              ["feed", "outcome"], registry=registry)


@dataclass
class FeedState:
    poll: schedule.PollState
    validators: Validators = field(default_factory=Validators)
    # entry id -> (content digest, revision) of what was published; (None, 0) when not known
    seen: OrderedDict[str, tuple[str | None, int]] = field(default_factory=OrderedDict)
    published_times: list[float] = field(default_factory=list)


class Poller:
    def __init__(self, feeds: list[FeedSpec], fetcher: Fetcher, publisher: Publisher,
                 metrics: ConnectorMetrics, saved: dict[str, StoredState] | None = None,
                 state_topic: str | None = None, parser: FeedParser | None = None) -> None:
        self.feeds = [f for f in feeds if f.enabled]
        self.parser = parser if parser is not None else FeedParser(processes=2)
        self.fetcher, self.publisher, self.metrics = fetcher, publisher, metrics
        self.state_topic = state_topic
        self.websub: WebSub | None = None
        self.state = {f.url: FeedState(schedule.initial(f.min_interval_s, f.max_interval_s)) for f in self.feeds}
        self.restore(saved or {})

    def restore(self, saved: dict[str, StoredState], only: set[str] | None = None) -> None:
        """Seed feeds' memory from their saved state (at start, or when a feed is handed over)."""
        for url, stored in saved.items():
            if url in self.state and (only is None or url in only):
                st = self.state[url]
                digests = ([d or None for d in stored.digests] if len(stored.digests) == len(stored.seen)
                           else [None] * len(stored.seen))
                revisions = stored.revisions if len(stored.revisions) == len(stored.seen) else [0] * len(stored.seen)
                st.seen.update(zip(stored.seen, zip(digests, revisions, strict=True), strict=True))
                st.validators = Validators(stored.etag, stored.last_modified, stored.permanent_url)

    def forget_gauges(self, url: str) -> None:
        """Drop a feed's gauges when another connector takes it over: its last-success time would
        otherwise age here and fire WarwireFeedStale for a feed this connector no longer polls."""
        for feed in self.feeds:
            if feed.url == url:
                for gauge in (self.metrics.healthy, self.metrics.last_success):
                    try:
                        gauge.remove(feed.source)
                    except KeyError:
                        pass

    async def accept(self, feed: FeedSpec, items: list[NewsItem]) -> int:
        """Publish the items not published before (polled or pushed); return how many."""
        st = self.state[feed.url]
        fresh: list[NewsItem] = []
        marks: list[tuple[str, int]] = []
        for item in items:
            digest = content_digest(item)
            known = st.seen.get(item.id)
            if known is None:
                fresh.append(item)
                marks.append((digest, 0))
            elif known[0] is not None and known[0] != digest:
                # The same guid with other content: the feed corrected the entry. Published again,
                # as the next revision of the same item (dedupe keeps it in its story, as "update").
                fresh.append(msgspec.structs.replace(item, revision=known[1] + 1))
                marks.append((digest, known[1] + 1))
        if not fresh:
            return 0
        await self.publisher.publish(fresh)
        for item, mark in zip(fresh, marks, strict=True):
            st.seen[item.id] = mark
            st.seen.move_to_end(item.id)
        while len(st.seen) > SEEN_PER_FEED:
            st.seen.popitem(last=False)
        self.metrics.published.labels(feed.source).inc(len(fresh))
        log.info("feed_items_published", feed=feed.url, source=feed.source, items=len(fresh))
        try:
            await self._save(feed, st)
        except Exception as exc:  # noqa: BLE001 - the items are out; a lost state only costs a republish
            log.warning("feed_state_save_failed", feed=feed.url, reason=f"{type(exc).__name__}: {exc}")
        return len(fresh)

    async def _save(self, feed: FeedSpec, st: FeedState) -> None:
        """Remember what was published, so a restarted connector does not publish it again."""
        if self.state_topic is None:
            return
        v = st.validators
        kept = list(st.seen.items())[-SEEN_KEPT:]
        rec = StoredState(feed=feed.url, seen=[k for k, _ in kept], digests=[d or "" for _, (d, _) in kept],
                          revisions=[r for _, (_, r) in kept], etag=v.etag, last_modified=v.last_modified,
                          permanent_url=v.permanent_url)
        await self.publisher.publish_raw(feed.url.encode(), encode(rec), self.state_topic)

    async def run(self) -> None:
        log.info("connectors_started", feeds=len(self.feeds))
        await asyncio.gather(*(self._loop(f) for f in self.feeds))

    async def loop(self, feed: FeedSpec) -> None:
        """Poll one feed until cancelled."""
        await self._loop(feed)

    async def _loop(self, feed: FeedSpec) -> None:
        await asyncio.sleep(schedule.next_delay(0.5))
        while True:
            delay = await self.poll_once(feed)
            await asyncio.sleep(schedule.next_delay(delay))

    async def poll_once(self, feed: FeedSpec) -> float:
        """Fetch and publish one feed once; return the delay before its next poll. Never raises
        except when cancelled."""
        st = self.state[feed.url]
        name = feed.source
        try:
            fetched = await self.fetcher.fetch(feed.url, st.validators)
        except FetchError as exc:
            return await self._failed(feed, st, "fetch", exc.reason, exc.retry_after_s,
                                      outcome=type(exc).__name__.removeprefix("Fetch").lower() or "error")
        self.metrics.latency.labels(name).observe(fetched.elapsed_s)
        self.metrics.bytes.labels(name).inc(len(fetched.body))
        new = 0
        if fetched.status == 304:
            self.metrics.fetches.labels(name, "not_modified").inc()
        else:
            now = datetime.now(UTC)
            try:
                parsed = await self.parser.parse(fetched.body, fetched.headers, feed, now)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - FeedParseError, or a parser bug: the feed is retried
                self.metrics.parse_errors.labels(name, "not_a_feed").inc()
                reason = str(exc) if isinstance(exc, FeedParseError) else f"{type(exc).__name__}: {exc}"
                return await self._failed(feed, st, "parse", reason[:500], None, outcome="parse_error")
            if parsed.partial:
                self.metrics.parse_errors.labels(name, "partial").inc()
                log.warning("feed_partly_parsed", feed=feed.url, source=name, reason=parsed.partial,
                            kept=len(parsed.items))
                await self._health(feed, st, True, "partial", parsed.partial)
            try:
                new = await self.accept(feed, parsed.items)
            except Exception as exc:  # noqa: BLE001 - broker trouble: retry the feed later
                return await self._failed(feed, st, "publish", f"{type(exc).__name__}: {exc}", None,
                                          outcome="publish_error", publish=False)
            if parsed.hub and self.websub is not None:
                try:
                    await self.fetcher.check_destination(feed.url, urlsplit(feed.url).hostname, parsed.hub, "WebSub hub")
                    await self.websub.ensure(feed, parsed.hub, parsed.self_url or feed.url)
                except FetchError as exc:
                    log.warning("websub_hub_refused", feed=feed.url, reason=exc.reason)
            st.published_times = [i.published.timestamp() for i in parsed.items if i.published][:50]
            self.metrics.fetches.labels(name, "ok").inc()
        t = time.time()
        was_healthy = st.poll.healthy
        st.poll = schedule.after_success(st.poll, new, schedule.median_gap(st.published_times),
                                         feed.min_interval_s, feed.max_interval_s, t, fetched.max_age_s)
        self.metrics.last_success.labels(name).set(t)
        self.metrics.healthy.labels(name).set(1)
        if not was_healthy:
            await self._health(feed, st, True, "ok", "recovered")
        if self.websub is not None and self.websub.active(feed.url):
            return feed.max_interval_s  # the hub pushes; polling is only the safety net
        return st.poll.interval_s

    async def _failed(self, feed: FeedSpec, st: FeedState, stage: str, reason: str,
                      retry_after_s: float | None, outcome: str, publish: bool = True) -> float:
        st.poll, delay = schedule.after_error(st.poll, feed.min_interval_s, feed.max_interval_s, retry_after_s)
        self.metrics.fetches.labels(feed.source, outcome).inc()
        log.warning("feed_failed", feed=feed.url, source=feed.source, stage=stage, reason=reason,
                    consecutive_errors=st.poll.consecutive_errors, retry_in_s=round(delay, 1))
        if not st.poll.healthy:
            self.metrics.healthy.labels(feed.source).set(0)
            if st.poll.consecutive_errors == schedule.UNHEALTHY_AFTER:
                log.error("feed_unhealthy", feed=feed.url, source=feed.source, reason=reason)
            if publish:
                await self._health(feed, st, False, outcome, reason)
        return delay

    async def _health(self, feed: FeedSpec, st: FeedState, healthy: bool, outcome: str, detail: str) -> None:
        if self.publisher.health_topic is None:
            return
        rec = FeedHealth(feed=feed.url, source=feed.source, healthy=healthy, outcome=outcome,
                         consecutive_errors=st.poll.consecutive_errors, at=datetime.now(UTC), detail=detail[:500])
        try:
            await self.publisher.publish_raw(feed.url.encode(), encode(rec), self.publisher.health_topic)
        except Exception:  # noqa: BLE001 - health records are best effort; the metric and log stand
            log.warning("feed_health_publish_failed", feed=feed.url)
