"""A hostile feed through the whole pipeline to a local Slack incoming webhook: no mention, link
or markup from the feed survives into what Slack would render."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import ROOT, as_of_now, wait_until
from tests.slack_blocks import control_sequences, texts, validate_message

pytestmark = pytest.mark.kafka
FEED = (ROOT / "tests" / "data" / "hostile" / "slack-injection.rss").read_bytes()


def test_hostile_feed_reaches_slack_without_mentions_or_foreign_links(httpserver: HTTPServer, run_env, spawn,
                                                                       tmp_path: Path) -> None:
    """Every item of the hostile feed fires `tracked-topics`; each Slack payload passes slack_sdk's
    Block Kit validation, carries no `<!channel>`/`<!here>`/`<@U…>`/`<#C…>` and no link but the
    item's own http(s) URL (percent-encoded), and links no `javascript:` or `data:` URL at all."""
    received: list[dict] = []  # type: ignore[type-arg]

    def slack(request: Request) -> Response:
        received.append(json.loads(request.get_data()))
        return Response("ok", status=200, content_type="text/html")

    httpserver.expect_request("/hostile.xml").respond_with_data(as_of_now(FEED), content_type="application/rss+xml")
    httpserver.expect_request("/slack", method="POST").respond_with_handler(slack)
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f'feeds:\n  - {{url: "{httpserver.url_for("/hostile.xml")}", source: "Hostile <!channel>", '
                     "lang: en, interval: {min: 10s, max: 10s}, labels: {outlet: hostile}}\n")
    env = dict(run_env, WARWIRE_FEEDS=str(feeds), WARWIRE_SLACK_WEBHOOK_URL=httpserver.url_for("/slack"))

    worker = spawn("worker", ["worker"], env)
    spawn("connect", ["connect"], env)
    wait_until(lambda: len(received) >= 3, 120, what=f"three Slack messages\n{worker.output()[-3000:]}")

    titles = []
    for payload in received:
        validate_message(payload)
        assert control_sequences(payload) == [], payload
        rendered = "\n".join(texts(payload))
        for scheme in ("javascript:", "data:"):
            assert f"<{scheme}" not in rendered
        titles.append(payload["text"])
    # The HTML parser drops what HTML reads as markup (<!channel> is a bogus comment, also when
    # escaped twice, as <!here> is); what it reads as text (<@U…>) is escaped, as is the
    # operator-given source name.
    assert sorted(titles) == [
        "[warning] Air defence shoots down 40 drones over Kyiv &lt;@U024BE7LH&gt;",
        "[warning] Air defence: IRIS-T units guard the grid",
        "[warning] Patriot battery deployed near Lviv",
    ]
    assert all("Hostile &lt;!channel&gt; · 1 outlet(s)" in texts(p) for p in received)
    kyiv = next(p for p in received if "Kyiv" in p["text"])
    head = kyiv["blocks"][0]["text"]["text"]
    assert head == (":warning: *<https://news.example/kyiv-drones%7C%3C!here%3E%20pwned%3E"
                    "|Air defence shoots down 40 drones over Kyiv &lt;@U024BE7LH&gt;>*")
    for p in received:
        if "Kyiv" not in p["text"]:  # javascript: and data: links are dropped: the title stands alone
            assert "<" not in p["blocks"][0]["text"]["text"], p["blocks"][0]
