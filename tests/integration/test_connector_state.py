"""A restarted connector remembers, through Kafka, what it already published from each feed."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from connectors.poller import Poller
from connectors.state import load_states
from tests.integration.test_feeds_bad_input import Harness, feed, harness, item, rss  # noqa: F401 - fixture

pytestmark = pytest.mark.kafka


async def test_a_restarted_connector_publishes_only_new_entries_and_sends_its_saved_etag(
        httpserver: HTTPServer, harness: Harness) -> None:  # noqa: F811 - the fixture
    body = {"data": rss(item("e1", "First entry"), item("e2", "Second entry")), "etag": '"v1"'}
    seen_etags: list[str | None] = []

    def serve(request: Request) -> Response:
        seen_etags.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == body["etag"]:
            return Response(status=304, headers={"ETag": body["etag"]})
        return Response(body["data"], headers={"ETag": body["etag"]}, content_type="application/rss+xml")

    httpserver.expect_request("/f").respond_with_handler(serve)
    f = feed(httpserver.url_for("/f"))
    state_topic = harness.settings.topic("warwire.feed-state")
    await Poller([f], harness.fetcher, harness.publisher, harness.metrics, None, state_topic).poll_once(f)
    assert sorted(i.id for i in await harness.published()) == ["e1", "e2"]

    # A new connector process: empty memory, state read back from Kafka.
    saved = await load_states(harness.settings.bootstrap, state_topic)
    assert saved[f.url].seen == ["e1", "e2"] and saved[f.url].etag == '"v1"'
    body.update(data=rss(item("e1", "First entry"), item("e2", "Second entry"), item("e3", "Third entry")), etag='"v2"')
    restarted = Poller([f], harness.fetcher, harness.publisher, harness.metrics, saved, state_topic)
    await restarted.poll_once(f)
    assert seen_etags[-1] == '"v1"'  # conditional GET with the saved validator
    assert sorted(i.id for i in await harness.published()) == ["e1", "e2", "e3"]  # e3 once, e1 and e2 not again


async def test_a_corrected_entry_is_published_again_as_its_next_revision_also_after_a_restart(
        httpserver: HTTPServer, harness: Harness) -> None:  # noqa: F811 - the fixture
    """Issue 17: the same guid with corrected content was dropped silently (the first copy won)."""
    body = {"data": rss(item("e1", "Strike on Kyiv power plant: two dead"), item("e2", "Other entry"))}
    httpserver.expect_request("/f").respond_with_handler(
        lambda _: Response(body["data"], content_type="application/rss+xml"))
    f = feed(httpserver.url_for("/f"))
    state_topic = harness.settings.topic("warwire.feed-state")
    poller = Poller([f], harness.fetcher, harness.publisher, harness.metrics, None, state_topic, parser=harness.parser)
    await poller.poll_once(f)
    body["data"] = rss(item("e1", "Strike on Kyiv power plant: three dead"), item("e2", "Other entry"))
    await poller.poll_once(f)
    await poller.poll_once(f)  # unchanged since: nothing more
    published = await harness.published()
    assert [(i.id, i.revision, i.title) for i in published if i.id == "e1"] == [
        ("e1", 0, "Strike on Kyiv power plant: two dead"), ("e1", 1, "Strike on Kyiv power plant: three dead")]
    assert [i.id for i in published].count("e2") == 1

    # A new connector process knows what it published, and the corrections made.
    restarted = Poller([f], harness.fetcher, harness.publisher, harness.metrics,
                       await load_states(harness.settings.bootstrap, state_topic), state_topic, parser=harness.parser)
    await restarted.poll_once(f)
    assert len(await harness.published()) == 3
    body["data"] = rss(item("e1", "Strike on Kyiv power plant: four dead"), item("e2", "Other entry"))
    await restarted.poll_once(f)
    last = (await harness.published())[-1]
    assert (last.id, last.revision) == ("e1", 2)

    # Stage 2 keeps a correction in the item's story, as an update, never as a new story.
    from streams.config import Settings
    from streams.core.pipeline import MemoryState
    from streams.core.tagging import compile_taxonomy, load_taxonomy

    state, tax = MemoryState(), compile_taxonomy(load_taxonomy(Settings().taxonomy))
    first, correction = (i for i in await harness.published() if i.id == "e1" and i.revision in (0, 1))
    a = state.run(first, tax, None, now=first.fetched_at.timestamp())
    b = state.run(correction, tax, None, now=correction.fetched_at.timestamp())
    assert b.tagged.story == a.tagged.story and b.tagged.duplicate_reason == "update"
