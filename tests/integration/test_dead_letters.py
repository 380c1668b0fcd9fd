"""Bad records and failed deliveries go to the dead-letter topic with a reason, the stream goes on,
and `warwire alerts dlq replay` delivers a failed alert once the receiver works again."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest
from aiokafka import AIOKafkaProducer
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from streams.schema import NewsItem, encode
from tests.conftest import ROOT, wait_until

pytestmark = pytest.mark.kafka


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def metric(port: str, name: str, labels: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(f"{name}{{{labels}"))


async def test_poison_records_and_rejected_deliveries_are_dead_lettered_and_replayable(
        httpserver: HTTPServer, run_env, spawn, kafka) -> None:
    status = {"code": 400}
    posts: list[tuple[int, dict]] = []

    def hook(request: Request) -> Response:
        posts.append((status["code"], json.loads(request.get_data())))
        return Response("no" if status["code"] >= 400 else "ok", status=status["code"])

    httpserver.expect_request("/hook", method="POST").respond_with_handler(hook)
    env = dict(run_env, WARWIRE_WEBHOOK_URL=httpserver.url_for("/hook"))
    spawn("worker", ["worker"], env)
    prefix = env["WARWIRE_TOPIC_PREFIX"]
    good = NewsItem(id="dl-1", title="Deutschland liefert weitere Luftverteidigungssysteme", lang="de",
                    source="WELT", url="https://www.welt.de/a/1")
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, max_request_size=1_100_000)
    await producer.start()
    try:
        wait_until(lambda: cli(env, "topics").returncode == 0, 60, what="topics")
        for key, value in ((b"p1", b"not json at all"), (b"p2", b'{"id": 5}'), (b"dl-1", encode(good)),
                           (b"p3", b"{" * 1_020_000)):
            await producer.send_and_wait(f"{prefix}warwire.raw", key=key, value=value)
    finally:
        await producer.stop()

    def letters() -> list[str]:
        res = cli(env, "alerts", "dlq", "list")
        assert res.returncode == 0, res.stderr
        return res.stdout.splitlines()

    wait_until(lambda: len(letters()) >= 4, 120, what="four dead letters")
    lines = letters()
    assert sum("\tanalyze\t" in line and "not a valid NewsItem" in line for line in lines) == 2, lines
    assert any("\tanalyze\t" in line and "exceeds the 1000000 byte limit" in line for line in lines), lines
    deliver = [line for line in lines if "\tdeliver\t" in line]
    assert len(deliver) == 1 and "HTTP 400 (not retryable)" in deliver[0], lines
    assert [code for code, _ in posts] == [400]

    status["code"] = 200
    res = cli(env, "alerts", "dlq", "replay")
    assert res.returncode == 0 and res.stdout.startswith("replayed 1 failed delivery"), res.stdout + res.stderr
    wait_until(lambda: len(posts) == 2, 60, what="the replayed alert")
    assert posts[1][0] == 200 and posts[1][1]["alert"]["title"] == good.title

    # Replaying again finds the alert in the delivered ledger: nothing is sent twice.
    assert cli(env, "alerts", "dlq", "replay").returncode == 0
    port = env["WARWIRE_METRICS_PORT"]
    wait_until(lambda: metric(port, "warwire_alerts_suppressed_total", 'reason="already_delivered"') >= 1, 60,
               what="the second replay to be skipped")
    assert len(posts) == 2


async def test_an_item_a_stage_failed_on_is_replayed_into_the_pipeline(httpserver: HTTPServer, run_env, spawn,
                                                                        kafka) -> None:
    """Issue 16, hole 5: only `deliver` letters could be replayed. A decide letter holds the item
    it failed on, and replay publishes that item to warwire.raw again; a poison letter stays."""
    from datetime import UTC, datetime

    from streams.schema import DeadLetter

    posts: list[dict] = []
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda r: (posts.append(json.loads(r.get_data())), Response("ok"))[1])
    env = dict(run_env, WARWIRE_WEBHOOK_URL=httpserver.url_for("/hook"))
    prefix = env["WARWIRE_TOPIC_PREFIX"]
    wait_until(lambda: cli(env, "topics").returncode == 0, 60, what="topics")
    item = NewsItem(id="dl-replay-1", title="Ukraine's air defence shoots down 20 drones over Kyiv", lang="en",
                    source="AP", url="https://apnews.example/dl-replay-1")
    letters = [DeadLetter(reason="item 0 (dl-replay-1): RuntimeError: a bug", stage="decide",
                          topic=f"{prefix}warwire.analyzed", partition=0, offset=7,
                          value=encode(item).decode(), at=datetime.now(UTC)),
               DeadLetter(reason="not a valid NewsItem", stage="analyze", topic=f"{prefix}warwire.raw",
                          partition=0, offset=3, value="not json at all", at=datetime.now(UTC))]
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        for letter in letters:
            await producer.send_and_wait(f"{prefix}warwire.dlq", key=None, value=encode(letter))
    finally:
        await producer.stop()
    dry = cli(env, "alerts", "dlq", "replay", "--dry-run")
    assert "would replay 0 failed deliveries, 1 item(s) and 0 rule event(s) a stage failed on; left 1" in dry.stdout, \
        dry.stdout + dry.stderr
    spawn("worker", ["worker"], env)
    res = cli(env, "alerts", "dlq", "replay")
    assert res.returncode == 0 and "1 item(s) and 0 rule event(s) a stage failed on; left 1" in res.stdout, \
        res.stdout + res.stderr
    wait_until(lambda: len(posts) == 1, 120, what="the replayed item's alert at the webhook")
    assert posts[0]["alert"]["title"] == item.title
