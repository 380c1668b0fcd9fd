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
