"""WebSub push from a local hub: subscribe, verify intent, accept only signed content, renew."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

import aiohttp
import pytest
from aiohttp import web
from pytest_httpserver import HTTPServer

from connectors.core.addresses import networks
from connectors.websub import WebSub
from tests.conftest import free_port
from tests.integration.test_feeds_bad_input import Harness, feed, harness  # noqa: F401 - fixture

pytestmark = pytest.mark.kafka


def atom(hub: str, self_url: str, *ids: str) -> bytes:
    entries = "".join(f"<entry><id>{i}</id><title>Entry {i}</title><updated>2023-09-28T10:00:00Z</updated></entry>"
                      for i in ids)
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            f'<link rel="hub" href="{hub}"/><link rel="self" href="{self_url}"/>{entries}</feed>').encode()


class Hub:
    """A minimal WebSub hub: 202 to a subscription, then verify intent, then push."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.verified: list[bool] = []
        self.pushes: list[int] = []
        self.done = asyncio.Event()
        self.push_bodies: list[tuple[bytes, bool]] = []

    async def subscribe(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.requests.append({k: str(v) for k, v in form.items()})
        asyncio.get_running_loop().create_task(self._verify_and_push(self.requests[-1]))
        return web.Response(status=202)

    async def _verify_and_push(self, form: dict[str, str]) -> None:
        await asyncio.sleep(0.2)
        challenge = secrets.token_hex(8)
        async with aiohttp.ClientSession() as s:
            async with s.get(form["hub.callback"], params={"hub.mode": "subscribe", "hub.topic": form["hub.topic"],
                                                         "hub.challenge": challenge, "hub.lease_seconds": "300"}) as r:
                self.verified.append(r.status == 200 and await r.text() == challenge)
            for body, good in self.push_bodies:
                key = form["hub.secret"] if good else "not-the-secret"
                sig = "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
                async with s.post(form["hub.callback"], data=body, headers={"X-Hub-Signature": sig,
                                                                           "Content-Type": "application/atom+xml"}) as r:
                    self.pushes.append(r.status)
            self.push_bodies = []
        self.done.set()


async def test_websub_subscription_push_with_signature_check_and_renewal(httpserver: HTTPServer,
                                                                         harness: Harness) -> None:  # noqa: F811
    hub = Hub()
    app = web.Application()
    app.router.add_post("/hub", hub.subscribe)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    hub_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", hub_port).start()
    hub_url, self_url = f"http://127.0.0.1:{hub_port}/hub", "https://publisher.example/feed"
    httpserver.expect_request("/feed").respond_with_data(atom(hub_url, self_url, "e1"),
                                                         content_type="application/atom+xml")
    f = feed(httpserver.url_for("/feed"), "pushed")
    poller = harness.poller(f)
    cb_port = free_port()
    websub = WebSub(poller, f"http://127.0.0.1:{cb_port}", cb_port, host="127.0.0.1")
    await websub.start()
    poller.websub = websub
    try:
        # The hub is on an internal address, another host than the feed's: refused (SSRF) …
        await poller.poll_once(f)
        assert hub.requests == [] and not websub.active(f.url)
        # … until the operator allows its network.
        harness.fetcher.allow_networks = networks(["127.0.0.0/8"])
        hub.push_bodies = [(atom(hub_url, self_url, "e1", "e2"), True), (atom(hub_url, self_url, "e3"), False)]
        first_delay = await poller.poll_once(f)  # polls, publishes e1, finds the hub, subscribes
        await asyncio.wait_for(hub.done.wait(), 20)
        assert hub.requests[0]["hub.mode"] == "subscribe" and hub.requests[0]["hub.topic"] == self_url
        assert hub.verified == [True] and websub.active(f.url)
        assert hub.pushes == [202, 202]  # a bad signature still gets 2xx, but the content is ignored
        assert sorted(i.id for i in await harness.published()) == ["e1", "e2"]
        assert harness.count("warwire_connector_websub_notifications_total", feed="pushed", outcome="accepted") == 1
        assert harness.count("warwire_connector_websub_notifications_total", feed="pushed", outcome="bad_signature") == 1
        assert first_delay <= f.max_interval_s
        assert await poller.poll_once(f) == f.max_interval_s  # subscribed: polling is only the safety net

        # The lease is renewed once 80 % of it has passed.
        hub.done.clear()
        sub = next(iter(websub.subs.values()))
        sub.verified_at = (sub.verified_at or 0) - 0.81 * sub.lease_s
        renew = asyncio.create_task(websub.renew_forever(every_s=0.1))
        await asyncio.wait_for(hub.done.wait(), 20)
        renew.cancel()
        assert len(hub.requests) == 2 and hub.requests[1]["hub.mode"] == "subscribe"
        assert hub.verified == [True, True]
    finally:
        await websub.stop()
        await runner.cleanup()
