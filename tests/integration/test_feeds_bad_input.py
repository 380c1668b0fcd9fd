"""Bad feeds against real local HTTP servers and the real broker: each gets a clear error (feed URL
and reason), keeps what was good, and leaves other feeds alone."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry
from pytest_httpserver import HTTPServer
from werkzeug import Response

from connectors.core.addresses import networks
from connectors.feeds import FeedSpec
from connectors.fetch import Fetcher, Validators
from connectors.parsing import FeedParser
from connectors.poller import ConnectorMetrics, Poller
from connectors.publish import Publisher
from streams.config import Settings
from streams.schema import FeedHealth, NewsItem, decode
from streams.topics import ensure_topics, pipeline_topics
from tests import hostile

pytestmark = pytest.mark.kafka


def rss(*items: str, declared: str = "UTF-8") -> bytes:
    return (f'<?xml version="1.0" encoding="{declared}"?><rss version="2.0"><channel><title>t</title>'
            f'<link>https://x.example/</link><description>d</description>{"".join(items)}</channel></rss>').encode()


def item(guid: str, title: str, date: str = "Thu, 28 Sep 2023 10:00:00 GMT") -> str:
    return f"<item><guid>{guid}</guid><title>{title}</title><pubDate>{date}</pubDate></item>"


@dataclass
class Harness:
    settings: Settings
    publisher: Publisher
    fetcher: Fetcher
    metrics: ConnectorMetrics
    parser: FeedParser

    def poller(self, *feeds: FeedSpec) -> Poller:
        return Poller(list(feeds), self.fetcher, self.publisher, self.metrics, parser=self.parser)

    async def health(self) -> list[FeedHealth]:
        return [decode(FeedHealth, v) for v in await self.values("warwire.feed-health")]

    async def published(self) -> list[NewsItem]:
        return [decode(NewsItem, v) for v in await self.values("warwire.raw")]

    async def values(self, topic: str) -> list[bytes]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        name = self.settings.topic(topic)
        tps = [TopicPartition(name, p) for p in range(pipeline_topics(self.settings)[name])]
        out: list[bytes] = []
        try:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            while True:
                positions = [await consumer.position(tp) for tp in tps]
                if all(pos >= end[tp] for pos, tp in zip(positions, tps, strict=True)):
                    break
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    out.extend(r.value for r in records)
        finally:
            await consumer.stop()
        return out

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def harness(kafka) -> AsyncIterator[Harness]:
    settings = Settings(broker=kafka.bootstrap, partitions=2, topic_prefix=f"f{uuid.uuid4().hex[:8]}.")
    await ensure_topics(settings)
    publisher = Publisher(settings.bootstrap, settings.topic("warwire.raw"), settings.topic("warwire.feed-health"))
    await publisher.start()
    fetcher = Fetcher(timeout=aiohttp.ClientTimeout(total=4, connect=2, sock_read=2), max_body=20_000_000)
    parser = FeedParser(processes=2, timeout_s=3.0)
    try:
        yield Harness(settings, publisher, fetcher, ConnectorMetrics(CollectorRegistry()), parser)
    finally:
        await parser.close()
        await fetcher.close()
        await publisher.stop()


def feed(url: str, name: str = "test") -> FeedSpec:
    return FeedSpec(url=url, source=name, lang="en", min_interval_s=60, max_interval_s=600)


async def test_malformed_xml_keeps_the_entries_that_parsed(httpserver: HTTPServer, harness: Harness) -> None:
    body = rss(item("g1", "Air defence report one"), item("g2", "Second good entry")).replace(
        b"</channel></rss>", b"<item><guid>g3</guid><title>Broken &bogus; <b>tag</title></item>")
    httpserver.expect_request("/f").respond_with_data(body, content_type="application/rss+xml")
    f = feed(httpserver.url_for("/f"))
    await harness.poller(f).poll_once(f)
    ids = {i.id for i in await harness.published()}
    assert {"g1", "g2"} <= ids
    assert harness.count("warwire_connector_parse_errors_total", feed="test", kind="partial") == 1


@pytest.mark.parametrize(("body", "ctype"), [
    (b"<!doctype html><html><head><title>Welcome</title></head><body><p>Not a feed</p></body></html>", "text/html"),
    (b"", "application/rss+xml"),
    (b'{"message": "not a json feed"}', "application/json"),
])
async def test_a_page_that_is_not_a_feed_is_a_parse_error_and_publishes_nothing(
        httpserver: HTTPServer, harness: Harness, body: bytes, ctype: str) -> None:
    httpserver.expect_request("/f").respond_with_data(body, content_type=ctype)
    f = feed(httpserver.url_for("/f"))
    poller = harness.poller(f)
    delay = await poller.poll_once(f)
    assert await harness.published() == []
    assert harness.count("warwire_connector_fetches_total", feed="test", outcome="parse_error") == 1
    assert poller.state[f.url].poll.consecutive_errors == 1 and delay >= 60


async def test_an_empty_feed_is_fine_and_duplicate_guids_publish_once(httpserver: HTTPServer, harness: Harness) -> None:
    httpserver.expect_request("/empty").respond_with_data(rss(), content_type="application/rss+xml")
    httpserver.expect_request("/dups").respond_with_data(
        rss(item("same", "First copy"), item("same", "Second copy"), item("other", "Other")),
        content_type="application/rss+xml")
    empty, dups = feed(httpserver.url_for("/empty"), "empty"), feed(httpserver.url_for("/dups"), "dups")
    poller = harness.poller(empty, dups)
    await poller.poll_once(empty)
    await poller.poll_once(dups)
    assert sorted(i.id for i in await harness.published()) == ["other", "same"]
    assert harness.count("warwire_connector_fetches_total", feed="empty", outcome="ok") == 1
    assert poller.state[empty.url].poll.consecutive_errors == 0


async def test_a_mislabelled_encoding_still_yields_the_entries(httpserver: HTTPServer, harness: Harness) -> None:
    body = rss(item("cp", "Удар по подстанции в Харькове")).decode().encode("cp1251")  # declared UTF-8
    httpserver.expect_request("/f").respond_with_data(body, content_type="application/rss+xml; charset=utf-8")
    f = feed(httpserver.url_for("/f"))
    await harness.poller(f).poll_once(f)
    published = await harness.published()
    assert [i.id for i in published] == ["cp"] and published[0].title


async def test_an_entity_expansion_bomb_is_refused_quickly(httpserver: HTTPServer, harness: Harness) -> None:
    lol = "".join(f'<!ENTITY lol{i} "{"&lol" + str(i - 1) + ";" * 1}' + f'{("&lol" + str(i - 1) + ";") * 9}">'
                  for i in range(1, 10))
    body = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol0 "lol">{lol}]><rss version="2.0"><channel>'
            f'<title>t</title><item><guid>b</guid><title>&lol9;</title></item></channel></rss>').encode()
    httpserver.expect_request("/f").respond_with_data(body, content_type="application/rss+xml")
    f = feed(httpserver.url_for("/f"))
    t0 = time.monotonic()
    await harness.poller(f).poll_once(f)
    assert time.monotonic() - t0 < 5
    assert all(len(i.title) < 10_000 for i in await harness.published())


async def test_a_huge_body_is_cut_off_while_streaming(httpserver: HTTPServer, harness: Harness) -> None:
    chunk = b"<item><title>" + b"x" * 65_000 + b"</title></item>"

    def huge(_):  # type: ignore[no-untyped-def]
        def gen():  # type: ignore[no-untyped-def]
            yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            for _ in range(3200):  # about 200 MB, never sent in full
                yield chunk
        return Response(gen(), content_type="application/rss+xml")

    httpserver.expect_request("/f").respond_with_handler(huge)
    f = feed(httpserver.url_for("/f"))
    t0 = time.monotonic()
    await harness.poller(f).poll_once(f)
    assert time.monotonic() - t0 < 10
    assert harness.count("warwire_connector_fetches_total", feed="test", outcome="toolarge") == 1
    assert await harness.published() == []


@pytest.fixture
def trickle_server() -> AsyncIterator[str]:
    """Answers with headers, then one byte of body a second, forever."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    def drip(conn: socket.socket) -> None:
        try:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n")
            while not stop.is_set():
                conn.sendall(b"<")
                time.sleep(1.0)
        except OSError:
            pass
        finally:
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/slow"
    stop.set()
    srv.close()


async def test_a_trickling_server_times_out_and_does_not_delay_another_feed(
        httpserver: HTTPServer, harness: Harness, trickle_server: str) -> None:
    httpserver.expect_request("/ok").respond_with_data(rss(item("fast", "Quick feed")), content_type="application/rss+xml")
    slow, fast = feed(trickle_server, "slow"), feed(httpserver.url_for("/ok"), "fast")
    poller = harness.poller(slow, fast)
    t0 = time.monotonic()
    slow_task = asyncio.create_task(poller.poll_once(slow))
    await poller.poll_once(fast)
    fast_done = time.monotonic() - t0
    await slow_task
    assert fast_done < 2.0
    assert harness.count("warwire_connector_fetches_total", feed="slow", outcome="timeout") == 1
    assert [i.id for i in await harness.published()] == ["fast"]


@pytest.mark.parametrize(("status", "headers", "outcome", "min_delay"), [
    (404, {}, "status", 60), (410, {}, "status", 60), (500, {}, "status", 60),
    (429, {"Retry-After": "900"}, "status", 900),
])
async def test_http_errors_back_off_and_honour_retry_after(httpserver: HTTPServer, harness: Harness, status: int,
                                                           headers: dict[str, str], outcome: str, min_delay: float) -> None:
    httpserver.expect_request("/f").respond_with_data("no", status=status, headers=headers)
    f = feed(httpserver.url_for("/f"))
    poller = harness.poller(f)
    delay = await poller.poll_once(f)
    assert delay >= min_delay
    assert harness.count("warwire_connector_fetches_total", feed="test", outcome=outcome) == 1
    assert poller.state[f.url].poll.consecutive_errors == 1


async def test_redirect_loops_and_refused_connections_are_errors_not_crashes(httpserver: HTTPServer,
                                                                            harness: Harness) -> None:
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": httpserver.url_for("/b")})
    httpserver.expect_request("/b").respond_with_data("", status=302, headers={"Location": httpserver.url_for("/a")})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    loop, refused = feed(httpserver.url_for("/a"), "loop"), feed(f"http://127.0.0.1:{closed_port}/f", "refused")
    poller = harness.poller(loop, refused)
    for f in (loop, refused):
        await poller.poll_once(f)
    assert harness.count("warwire_connector_fetches_total", feed="loop", outcome="connection") == 1
    assert harness.count("warwire_connector_fetches_total", feed="refused", outcome="connection") == 1
    for _ in range(2):
        await poller.poll_once(refused)
    assert not poller.state[refused.url].poll.healthy  # marked unhealthy, never given up
    assert harness.count("warwire_connector_feed_healthy", feed="refused") == 0


async def test_missing_and_absurd_dates_become_the_fetch_time(httpserver: HTTPServer, harness: Harness) -> None:
    httpserver.expect_request("/f").respond_with_data(
        rss(item("none", "No date", date=""), item("future", "Far future", date="Fri, 01 Jan 2100 00:00:00 GMT"),
            item("junk", "Junk date", date="yesterday-ish")), content_type="application/rss+xml")
    f = feed(httpserver.url_for("/f"))
    before = time.time()
    await harness.poller(f).poll_once(f)
    published = {i.id: i for i in await harness.published()}
    assert set(published) == {"none", "future", "junk"}
    for i in published.values():
        assert i.published is not None and before - 1 <= i.published.timestamp() <= time.time() + 1


@pytest.mark.parametrize(("name", "ctype", "good"), [
    ("jsonfeed-bad-items.json", "application/feed+json", {"good-j", "y9999", "y0001"}),
    ("jsonfeed-items-int.json", "application/feed+json", set()),
    ("bad-port.rss", "application/rss+xml", {"port-abc", "port-big", "good-1"}),
    ("surrogate-ref.rss", "application/rss+xml", {"sur1", "nul-ref", "good-1"}),
])
async def test_a_hostile_feed_publishes_its_good_items_reports_the_error_and_is_polled_again(
        httpserver: HTTPServer, harness: Harness, name: str, ctype: str, good: set[str]) -> None:
    """Rows 1-2 of issue 17: these killed the feed's poll task for good, silently."""
    httpserver.expect_request("/f").respond_with_data(hostile.feed(name), content_type=ctype)
    f = feed(httpserver.url_for("/f"))
    poller = harness.poller(f)
    await poller.poll_once(f)
    assert {i.id for i in await harness.published()} == good
    assert harness.count("warwire_connector_parse_errors_total", feed="test", kind="partial") == 1
    [health] = await harness.health()
    assert health.healthy and health.outcome == "partial" and health.detail
    delay = await poller.poll_once(f)  # polling goes on: the same feed again, nothing new
    assert delay >= 60 and poller.state[f.url].poll.consecutive_errors == 0
    assert harness.count("warwire_connector_fetches_total", feed="test", outcome="ok") == 2


async def test_a_feed_too_slow_to_parse_is_refused_and_other_feeds_are_polled_meanwhile(
        httpserver: HTTPServer, harness: Harness) -> None:
    """Parsing ran on the connector's event loop (a 5 MB feed stalled every feed for 3 s): now in
    helpers, each parse stopped at its bound (1 s here; this 4 MB feed of 200,000 elements takes
    about 2.4 s)."""
    httpserver.expect_request("/huge").respond_with_data(hostile.element_heavy_feed(), content_type="application/rss+xml")
    httpserver.expect_request("/ok").respond_with_data(rss(item("fast", "Quick feed")), content_type="application/rss+xml")
    huge, fast = feed(httpserver.url_for("/huge"), "huge"), feed(httpserver.url_for("/ok"), "fast")
    harness.parser.timeout_s = 1.0
    poller = harness.poller(huge, fast)
    await poller.poll_once(fast)  # helpers started
    t0 = time.monotonic()
    huge_task = asyncio.create_task(poller.poll_once(huge))
    await asyncio.sleep(0.1)
    for _ in range(3):
        await poller.poll_once(fast)
    fast_done = time.monotonic() - t0
    await huge_task
    assert fast_done < 2.0
    assert harness.count("warwire_connector_fetches_total", feed="huge", outcome="parse_error") == 1
    assert poller.state[huge.url].poll.consecutive_errors == 1
    assert [i.id for i in await harness.published()] == ["fast"]


async def test_a_redirect_to_an_internal_address_is_refused_unless_its_network_is_allowed(
        httpserver: HTTPServer, harness: Harness) -> None:
    """Issue 17 (SSRF): a feed redirected the connector to the machine's own services and a 301
    was pinned in feed state. The feed's own host stays allowed: operators list it."""
    own = httpserver.url_for("/internal")
    # the same server under its other name: another host, on an internal address
    target = own.replace("localhost", "127.0.0.1") if "localhost" in own else own.replace("127.0.0.1", "localhost")
    httpserver.expect_request("/f").respond_with_data("", status=301, headers={"Location": target})
    httpserver.expect_request("/internal").respond_with_data(rss(item("secret", "Internal page")),
                                                             content_type="application/rss+xml")
    httpserver.expect_request("/same").respond_with_data("", status=301, headers={"Location": httpserver.url_for("/ok")})
    httpserver.expect_request("/ok").respond_with_data(rss(item("fine", "Same host")), content_type="application/rss+xml")
    f, same = feed(httpserver.url_for("/f"), "redirected"), feed(httpserver.url_for("/same"), "same")
    poller = harness.poller(f, same)
    await poller.poll_once(f)
    await poller.poll_once(same)
    assert [i.id for i in await harness.published()] == ["fine"]
    assert poller.state[f.url].validators.permanent_url is None
    assert poller.state[same.url].validators.permanent_url == httpserver.url_for("/ok")
    assert harness.count("warwire_connector_fetches_total", feed="redirected", outcome="connection") == 1

    allowed = Fetcher(timeout=aiohttp.ClientTimeout(total=4), allow_networks=networks(["127.0.0.0/8", "::1/128"]))
    try:
        fetched = await allowed.fetch(f.url, Validators())
        assert fetched.status == 200 and b"secret" in fetched.body
    finally:
        await allowed.close()
