"""Rules over many items and digests on the real broker, with a real local webhook."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from streams.schema import NewsItem
from tests.conftest import publish, wait_until
from tests.integration.test_delivery import ready

pytestmark = pytest.mark.kafka

RULES = """
receivers:
  hook: {type: webhook, url_env: T_HOOK}
rules:
  - name: energy-wave
    type: frequency
    topics: [energy-infrastructure]
    window: 1h
    threshold: 4
    realert: 1h
    receivers: [hook]
  - name: nato-quiet
    type: flatline
    topics: [nato-accession]
    window: 8s
    realert: 1h
    receivers: [hook]
  - name: air-digest
    type: match
    topics: [air-defence]
    realert: 1h
    group_wait: 6s
    group_interval: 1m
    receivers: [hook]
"""

CITIES = ["Kharkiv", "Odesa", "Dnipro", "Sumy", "Poltava", "Lviv"]


def energy(i: int, city: str) -> NewsItem:
    return NewsItem(id=f"e{i}-{time.time_ns()}", title=f"Substation in {city} hit, {i * 1000 + 700} homes without power",
                    summary=f"Missiles struck the {city} substation #{i}; repairs will take {i + 2} days.", lang="en",
                    source=f"outlet{i}", url=f"https://e.example/{i}")


def air(i: int, city: str) -> NewsItem:
    return NewsItem(id=f"a{i}-{time.time_ns()}", title=f"Air defence downs {i + 10} drones over {city}",
                    summary=f"The air force said {i + 12} drones were launched at {city} overnight.", lang="en",
                    source=f"outlet{i}", url=f"https://a.example/{i}")


async def test_frequency_flatline_and_digest_rules_fire_through_the_aggregate_stage(
        httpserver: HTTPServer, run_env, spawn, kafka, tmp_path: Path) -> None:
    got: list[dict] = []  # type: ignore[type-arg]

    def hook(request: Request) -> Response:
        got.append(json.loads(request.data)["alert"])
        return Response(status=200)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(hook)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(RULES)
    env = dict(run_env, WARWIRE_RULES=str(rules), T_HOOK=httpserver.url_for("/hook"))
    spawn("worker", ["worker"], env)
    wait_until(lambda: ready(env), 90, what="worker ready")
    started = time.monotonic()
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"],
                  [energy(i, c) for i, c in enumerate(CITIES[:5])] + [air(i, c) for i, c in enumerate(CITIES[:3])])

    def by_rule(name: str) -> list[dict]:  # type: ignore[type-arg]
        return [a for a in got if a["rule"] == name]

    wait_until(lambda: by_rule("energy-wave"), 60, what="the frequency alert")
    wave = by_rule("energy-wave")
    assert len(wave) == 1 and wave[0]["reason"] == "4 items within 1h (threshold 4)", wave  # the 5th is throttled
    wait_until(lambda: by_rule("air-digest"), 60, what="the digest")
    digest = by_rule("air-digest")
    assert len(digest) == 1 and len(digest[0]["digest"]) == 3 and digest[0]["title"] == "3 alerts of air-digest", digest
    wait_until(lambda: by_rule("nato-quiet"), 60, what="the flatline alert")
    assert time.monotonic() - started >= 6  # not before a whole window without nato-accession items
    quiet = by_rule("nato-quiet")[0]
    assert quiet["reason"] == "0 items within 8s (at least 1 expected)" and quiet["key"] == "*"
    time.sleep(6)  # ticks go on: realert holds the flatline, the digest has nothing new
    assert len(by_rule("nato-quiet")) == 1 and len(by_rule("air-digest")) == 1 and len(by_rule("energy-wave")) == 1
