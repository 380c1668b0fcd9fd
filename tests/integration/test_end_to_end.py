"""One item through the whole pipeline on the real Kafka broker, with real local HTTP servers."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
import urllib.request
from email.utils import formatdate
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import ROOT, as_of_now, free_port, wait_until

pytestmark = pytest.mark.kafka
FEED = (ROOT / "tests" / "data" / "welt-stoltenberg.rss").read_bytes()
SECRET = "e2e-signing-secret"


def _feeds_file(tmp_path: Path, url: str, archive: str | None = None) -> Path:
    path = tmp_path / "feeds.yaml"
    text = ("strip: ['\\s*#weltnachrichtensender.*$']\n"
            f"feeds:\n  - {{url: \"{url}\", source: WELT, lang: de, interval: {{min: 10s, max: 10s}},"
            " labels: {outlet: welt}}\n")
    if archive:
        text += (f"  - {{url: \"{archive}\", source: Archive, lang: en, interval: {{min: 10s, max: 10s}},"
                 " labels: {outlet: archive}}\n")
    path.write_text(text)
    return path


# A newly added feed's archive: an entry ten days old that the tracked-topics rule would alert on.
ARCHIVE = ("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Archive</title><item>"
           "<guid>archive-patriot</guid><link>https://archive.example/patriot</link>"
           "<title>Second Patriot air defence battery arrives in Ukraine</title>"
           "<description>A second Patriot air defence battery is operational and protects Kyiv against "
           "ballistic missiles, the air force said.</description>"
           f"<pubDate>{formatdate(time.time() - 10 * 86400, usegmt=True)}</pubDate></item></channel></rss>")


def _metric(port: str, name: str, labels: str) -> float:
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return 0.0
    for line in body.splitlines():
        if line.startswith(f"{name}{{{labels}}}"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_welt_item_reaches_webhook_once_with_three_topics(httpserver: HTTPServer, run_env, spawn, tmp_path):
    """The WELT item is fetched, deduped, tagged with all three topics, fires one rule, and the
    local webhook gets exactly one signed alert; publishing the same item again adds none."""
    received: list[Request] = []

    def hook(request: Request) -> Response:
        received.append(request)
        return Response("ok", status=200)

    httpserver.expect_request("/welt.xml").respond_with_data(as_of_now(FEED), content_type="application/rss+xml")
    httpserver.expect_request("/archive.xml").respond_with_data(ARCHIVE, content_type="application/rss+xml")
    httpserver.expect_request("/hook", method="POST").respond_with_handler(hook)
    feeds = _feeds_file(tmp_path, httpserver.url_for("/welt.xml"), httpserver.url_for("/archive.xml"))
    env = dict(run_env, WARWIRE_FEEDS=str(feeds),
               WARWIRE_WEBHOOK_URL=httpserver.url_for("/hook"), WARWIRE_WEBHOOK_SECRET=SECRET)

    worker = spawn("worker", ["worker"], env)
    connect = spawn("connect", ["connect"], env)
    wait_until(lambda: received, 120, what=f"an alert at the webhook\n{worker.output()[-3000:]}")

    req = received[0]
    body = req.get_data()
    payload = json.loads(body)
    alert = payload["alert"]
    assert payload["schema"] == "warwire.alert/v1"
    assert alert["topics"] == ["air-defence", "energy-infrastructure", "nato-accession"]
    assert alert["rule"] == "tracked-topics"
    assert alert["url"] == "https://www.welt.de/politik/ausland/video247600000/Ukraine-Krieg-Stoltenberg-in-Kiew.html"
    assert "#weltnachrichtensender" not in alert["summary"]
    assert req.headers["Idempotency-Key"] == f"{alert['id']}:webhook"
    ts = req.headers["X-Warwire-Timestamp"]
    expected = "v1=" + hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req.headers["X-Warwire-Signature"], expected)

    port = env["WARWIRE_METRICS_PORT"]
    # The archive's ten-day-old entry was processed as backlog: suppressed, never delivered.
    wait_until(lambda: _metric(port, "warwire_alerts_suppressed_total",
                               'reason="backlog",rule="tracked-topics"') >= 1, 60,
               what="the archive entry to be suppressed as backlog")
    ready = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5).read())
    assert ready == {"ready": True, "checks": ["analyzers", "broker", "intake", "rules", "tables"]}
    assert json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()) == {"alive": True}

    # A restarted connector reads what it published from Kafka (warwire.feed-state): it fetches the
    # feed again and publishes nothing.
    connect.stop()
    cport = str(free_port())
    spawn("connect2", ["connect"], dict(env, WARWIRE_CONNECT_METRICS_PORT=cport))
    wait_until(lambda: _metric(cport, "warwire_connector_fetches_total", 'feed="WELT",outcome="not_modified"')
               + _metric(cport, "warwire_connector_fetches_total", 'feed="WELT",outcome="ok"') >= 1, 60,
               what="the restarted connector to fetch the feed")
    assert _metric(cport, "warwire_connector_items_published_total", 'feed="WELT"') == 0

    # The same item published again from elsewhere is a duplicate of the story: no second alert.
    title, _, body = (ROOT / "tests" / "data" / "welt-stoltenberg-kyiv.txt").read_text().partition("\n")
    first = {"id": "welt-video-247600000", "title": title, "summary": body.strip(), "url": alert["url"],
             "source": "WELT", "lang": "de"}
    jsonl = tmp_path / "again.jsonl"
    jsonl.write_text(json.dumps(first) + "\n")
    res = subprocess.run([sys.executable, "-m", "streams.cli", "ingest", str(jsonl)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    wait_until(lambda: _metric(port, "warwire_pipeline_items_total", 'outcome="duplicate"') >= 1, 90,
               what="the republished item to be processed as a duplicate")
    wait_until(lambda: _metric(port, "warwire_alerts_suppressed_total",
                               'reason="throttle",rule="tracked-topics"') >= 1, 30,
               what="the duplicate's alert to be throttled")
    assert len(received) == 1, [r.get_data()[:200] for r in received]
    logs = worker.output()
    assert "alert_fired" in logs and "delivered" in logs  # the log is there, and JSON lines
    assert httpserver.url_for("/hook") not in logs and "/hook" not in logs and SECRET not in logs
