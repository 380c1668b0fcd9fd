"""WebSub subscriber: the callback server, subscription requests and lease renewal.

Enabled when `connectors.websub_callback` (WARWIRE_WEBSUB_CALLBACK) gives the public base URL of
the callback server, which listens on `connectors.websub_port` (WARWIRE_WEBSUB_PORT). Pushed
content goes through the same parse → publish path as polled content, so what was already
published is not published again.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from connectors.core.parse import FeedParseError
from connectors.core.websub import Subscription, signature_ok, subscription_form, verify_intent
from connectors.feeds import FeedSpec
from streams import logs
from streams.schema import NewsItem


class PushTarget(Protocol):
    """What WebSub needs of the poller it hands pushed content to (connectors.poller.Poller):
    its metrics, its feed parser and where accepted items go. A protocol, so this module does
    not import the poller that imports it."""

    metrics: Any
    parser: Any

    async def accept(self, feed: FeedSpec, items: list[NewsItem]) -> int: ...

log = logs.get("warwire.connect")
MAX_PUSH_BYTES = 10 * 1024 * 1024


class WebSub:
    def __init__(self, poller: PushTarget, callback_base: str, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104
        self.poller, self.callback_base, self.port, self.host = poller, callback_base.rstrip("/"), port, host
        self.subs: dict[str, Subscription] = {}  # by callback token
        self.feeds: dict[str, FeedSpec] = {}     # by callback token
        self.by_feed: dict[str, str] = {}        # feed URL -> its subscription's token
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def active(self, feed_url: str) -> bool:
        sub = self.subs.get(self.by_feed.get(feed_url, ""))
        return sub is not None and sub.state == "active"

    def callback(self, sub: Subscription) -> str:
        return f"{self.callback_base}/websub/{sub.token}"

    def forget(self, feed_url: str) -> None:
        """Stop renewing a feed's subscription and refuse its callbacks (the feed moved to another
        connector, which subscribes with its own callback)."""
        token = self.by_feed.pop(feed_url, None)
        if token is not None and self.subs.pop(token, None) is not None:
            self.feeds.pop(token, None)
            log.info("websub_forgotten", feed=feed_url)

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_PUSH_BYTES)
        app.router.add_get("/websub/{token}", self._verify)
        app.router.add_post("/websub/{token}", self._content)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def ensure(self, feed: FeedSpec, hub: str, topic: str) -> None:
        """Subscribe to a feed's hub, unless a subscription is already pending or active."""
        sub = self.subs.get(self.by_feed.get(feed.url, ""))
        if sub is not None and sub.hub == hub and sub.state in ("pending", "active"):
            return
        self.forget(feed.url)
        sub = Subscription(feed=feed.url, topic=topic, hub=hub, secret=secrets.token_hex(20))
        self.subs[sub.token], self.feeds[sub.token], self.by_feed[feed.url] = sub, feed, sub.token
        await self._request(sub)

    async def _request(self, sub: Subscription) -> None:
        assert self._session is not None
        sub.state = "pending"
        try:
            async with self._session.post(sub.hub, data=subscription_form(sub, self.callback(sub))) as resp:
                ok = 200 <= resp.status < 300
                log.info("websub_subscribe", feed=sub.feed, hub=sub.hub, status=resp.status) if ok else \
                    log.warning("websub_subscribe_refused", feed=sub.feed, hub=sub.hub, status=resp.status)
                if not ok:
                    sub.state = "denied"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            sub.state = "denied"
            log.warning("websub_subscribe_failed", feed=sub.feed, hub=sub.hub, reason=type(exc).__name__)

    async def renew_forever(self, every_s: float = 30.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            now = time.time()
            for sub in list(self.subs.values()):
                if sub.renew_due(now):
                    log.info("websub_renew", feed=sub.feed, lease_s=sub.lease_s)
                    await self._request(sub)

    async def _verify(self, request: web.Request) -> web.Response:
        sub = self.subs.get(request.match_info["token"])
        status, body = verify_intent(request.query, sub, time.time())
        if sub is not None and status == 200:
            log.info("websub_verified", feed=sub.feed, state=sub.state, lease_s=sub.lease_s)
        return web.Response(status=status, text=body)

    async def _content(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        sub, feed = self.subs.get(token), self.feeds.get(token)
        body = await request.read()
        if sub is None or feed is None:
            return web.Response(status=404)
        if not signature_ok(sub.secret, body, request.headers.get("X-Hub-Signature")):
            # The spec asks for a 2xx even so; the content is ignored.
            self.poller.metrics.pushes.labels(feed.source, "bad_signature").inc()
            log.warning("websub_bad_signature", feed=feed.url)
            return web.Response(status=202)
        try:
            parsed = await self.poller.parser.parse(body, request.headers, feed, datetime.now(UTC))
        except FeedParseError as exc:
            self.poller.metrics.pushes.labels(feed.source, "parse_error").inc()
            log.warning("websub_content_not_a_feed", feed=feed.url, reason=str(exc))
            return web.Response(status=202)
        new = await self.poller.accept(feed, parsed.items)
        self.poller.metrics.pushes.labels(feed.source, "accepted").inc()
        log.info("websub_content", feed=feed.url, items=len(parsed.items), new=new)
        return web.Response(status=202)
