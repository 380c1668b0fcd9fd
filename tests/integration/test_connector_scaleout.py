"""Two connector processes share the feeds: each feed is polled by exactly one of them, and its
feeds move to the other when one stops."""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from connectors.core.schedule import feed_partition
from tests.conftest import free_port, wait_until

pytestmark = pytest.mark.kafka
N_FEEDS = 12


def polled(port: str) -> set[str]:
    """Feeds (by source name) this connector has fetched at least once."""
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return set()
    return {m.group(1) for m in re.finditer(r'^warwire_connector_fetches_total\{feed="([^"]+)",outcome="ok"\} ', body, re.M)}


def fetch_counts(port: str) -> dict[str, float]:
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return {}
    return {m.group(1): float(m.group(2)) for m in
            re.finditer(r'^warwire_connector_fetches_total\{feed="([^"]+)",outcome="(?:ok|not_modified)"\} (\S+)', body, re.M)}


def test_each_feed_is_polled_by_exactly_one_connector_and_handed_over(httpserver: HTTPServer, run_env, spawn,
                                                                      tmp_path: Path) -> None:
    lines = ["feeds:"]
    for i in range(N_FEEDS):
        body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>f{i}</title><item><guid>g{i}</guid>'
                f"<title>Entry {i}</title></item></channel></rss>")
        httpserver.expect_request(f"/f{i}").respond_with_data(body, content_type="application/rss+xml")
        lines.append(f'  - {{url: "{httpserver.url_for(f"/f{i}")}", source: feed{i}, lang: en, '
                     "interval: {min: 10s, max: 10s}}")
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("\n".join(lines) + "\n")
    partitions = {feed_partition(httpserver.url_for(f"/f{i}"), 4) for i in range(N_FEEDS)}
    assert len(partitions) >= 2  # the feeds spread over several partitions
    ports = [str(free_port()), str(free_port())]
    envs = [dict(run_env, WARWIRE_FEEDS=str(feeds), WARWIRE_CONNECT_METRICS_PORT=p) for p in ports]
    first = spawn("connect0", ["connect"], envs[0])
    wait_until(lambda: len(polled(ports[0])) == N_FEEDS, 60, what="the first connector to poll every feed")
    spawn("connect1", ["connect"], envs[1])
    # After the rebalance each feed's polls continue on exactly one connector.
    wait_until(lambda: polled(ports[1]), 60, what="the second connector to take some feeds")
    time.sleep(3)  # let the rebalance settle
    before = [fetch_counts(p) for p in ports]
    time.sleep(13)  # more than one 10 s polling interval (with ±10 % jitter)
    after = [fetch_counts(p) for p in ports]
    active = [{f for f, n in after[i].items() if n > before[i].get(f, 0)} for i in (0, 1)]
    assert active[0] and active[1], active
    assert not active[0] & active[1], f"polled by both: {active[0] & active[1]}"
    assert active[0] | active[1] == {f"feed{i}" for i in range(N_FEEDS)}

    # The first connector stops: its feeds move to the second.
    assert first.stop() == 0
    moved = active[0]
    mark = fetch_counts(ports[1])
    wait_until(lambda: all(fetch_counts(ports[1]).get(f, 0) > mark.get(f, 0) for f in moved), 60,
               what="the stopped connector's feeds to be polled by the other")
