"""Delivery guarantees on the real broker with real local HTTP receivers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from streams.schema import NewsItem
from tests.conftest import publish, wait_until

pytestmark = pytest.mark.kafka

RULES = """
receivers:
  hook: {type: webhook, url_env: T_HOOK}
  slack: {type: slack, url_env: T_SLACK}
  slow: {type: webhook, url_env: T_SLOW}
rules:
  - name: air
    type: match
    topics: [air-defence]
    realert: 1h
    receivers: [RECEIVERS]
"""

STORIES = [  # five different stories, all about air defence
    ("Air defence intercepts drones over Kharkiv", "The regional governor said debris damaged two houses."),
    ("Germany to send a third Patriot missile battery", "The defence ministry in Berlin confirmed the delivery date."),
    ("Odesa port hit despite air defence efforts", "Grain silos burned after a missile strike late on Sunday."),
    ("NASAMS systems arrive from Norway", "Kyiv thanked Oslo for the surface-to-air missiles and launchers."),
    ("Drone debris falls on Lviv airport runway", "Flights were suspended while anti-aircraft crews searched the area."),
]


def items(n: int, lang: str = "en") -> list[NewsItem]:
    return [NewsItem(id=f"it-{i}-{time.time_ns()}", title=STORIES[i][0], summary=STORIES[i][1], lang=lang,
                     source=f"outlet-{i}", url=f"https://outlet-{i}.example/{i}") for i in range(n)]


def setup(tmp_path: Path, run_env: dict[str, str], receivers: str, **urls: str) -> dict[str, str]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "test.yaml").write_text(RULES.replace("RECEIVERS", receivers))
    return dict(run_env, WARWIRE_RULES=str(rules), **urls)


def scrape(env: dict[str, str]) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{env['WARWIRE_METRICS_PORT']}/metrics", timeout=5).read().decode()


def metric(env: dict[str, str], name: str, labels: str) -> float:
    body = scrape(env)
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(f"{name}{{{labels}"))


def ready(env: dict[str, str]) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{env['WARWIRE_METRICS_PORT']}/readyz", timeout=2).status == 200
    except OSError:
        return False


async def test_receiver_failing_with_500s_then_recovering_gets_every_alert_exactly_once(
        httpserver: HTTPServer, run_env, spawn, kafka, tmp_path) -> None:
    log: list[tuple[int, str]] = []

    def hook(request: Request) -> Response:
        code = 500 if len(log) < 7 else 200
        log.append((code, request.headers["Idempotency-Key"]))
        return Response(status=code)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(hook)
    env = setup(tmp_path, run_env, "hook", T_HOOK=httpserver.url_for("/hook"))
    spawn("worker", ["worker"], env)
    wait_until(lambda: ready(env), 60, what="worker ready")
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], items(5))
    wait_until(lambda: len({k for c, k in log if c == 200}) == 5, 120, what="5 delivered alerts")
    time.sleep(3)
    delivered = Counter(k for c, k in log if c == 200)
    assert len(delivered) == 5 and set(delivered.values()) == {1}, log
    assert sum(1 for c, _ in log if c == 500) == 7


async def test_429_retry_after_is_honoured(httpserver: HTTPServer, run_env, spawn, kafka, tmp_path) -> None:
    times: list[tuple[int, float]] = []

    def hook(request: Request) -> Response:
        if not times:
            times.append((429, time.monotonic()))
            return Response(status=429, headers={"Retry-After": "4"})
        times.append((200, time.monotonic()))
        return Response(status=200)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(hook)
    env = setup(tmp_path, run_env, "hook", T_HOOK=httpserver.url_for("/hook"))
    spawn("worker", ["worker"], env)
    wait_until(lambda: ready(env), 60, what="worker ready")
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], items(1))
    wait_until(lambda: len(times) >= 2, 60, what="the retry after 429")
    gap = times[1][1] - times[0][1]
    assert [c for c, _ in times] == [429, 200]
    assert 4.0 <= gap < 9.0, gap


async def test_dead_receiver_does_not_delay_a_healthy_one(httpserver: HTTPServer, run_env, spawn, kafka,
                                                          tmp_path) -> None:
    """`slow` accepts connections and never answers (each attempt waits for the 5 s timeout);
    `hook` must still get five alerts promptly."""
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(64)
    got: list[float] = []
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda r: (got.append(time.monotonic()), Response(status=200))[1])
    env = setup(tmp_path, run_env, "slow, hook", T_HOOK=httpserver.url_for("/hook"),
                T_SLOW=f"http://127.0.0.1:{black_hole.getsockname()[1]}/hook")
    try:
        spawn("worker", ["worker"], env)
        wait_until(lambda: ready(env), 60, what="worker ready")
        t0 = time.monotonic()
        await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], items(5))
        wait_until(lambda: len(got) == 5, 60, what="five alerts at the healthy receiver")
        # In series behind the dead receiver, five alerts would take 5 × 5 s.
        assert got[-1] - t0 < 12.0, got[-1] - t0
        wait_until(lambda: metric(env, "warwire_delivery_attempts_total", 'outcome="retry",receiver="slow"') >= 1, 60,
                   what="the dead receiver's attempts to time out")
    finally:
        black_hole.close()


async def test_sigkill_right_after_a_slack_post_causes_no_duplicate(httpserver: HTTPServer, run_env, spawn, kafka,
                                                                    tmp_path) -> None:
    posts: list[dict] = []
    worker_box: list = []

    def slack(request: Request) -> Response:
        posts.append(json.loads(request.get_data()))
        if len(posts) == 1:
            os.killpg(worker_box[0].p.pid, signal.SIGKILL)  # the POST arrived; the worker never sees the answer
        return Response("ok", status=200)

    httpserver.expect_request("/slack", method="POST").respond_with_handler(slack)
    env = setup(tmp_path, run_env, "slack", T_SLACK=httpserver.url_for("/slack"))
    worker_box.append(spawn("worker", ["worker"], env))
    wait_until(lambda: ready(env), 60, what="worker ready")
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], items(1))
    wait_until(lambda: worker_box[0].p.poll() is not None, 60, what="the worker to be killed after the POST")
    spawn("worker2", ["worker"], env)
    wait_until(lambda: ready(env), 90, what="restarted worker ready")
    wait_until(lambda: metric(env, "warwire_delivery_attempts_total", 'outcome="ambiguous",receiver="slack"') >= 1, 60,
               what="the restarted worker to find the interrupted delivery")
    time.sleep(2)
    assert len(posts) == 1
    assert posts[0]["blocks"][0]["type"] == "section"
    # Not skipped silently (issue 15): dead-lettered as ambiguous, and replay sends it.
    listed = subprocess.run([sys.executable, "-m", "streams.cli", "alerts", "dlq", "list"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert "\tdeliver\t" in listed.stdout and "ambiguous: a worker stopped during the POST to slack" in listed.stdout
    replay = subprocess.run([sys.executable, "-m", "streams.cli", "alerts", "dlq", "replay"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0, replay.stderr
    wait_until(lambda: len(posts) == 2, 60, what="the replayed alert at Slack")
    assert posts[1]["text"] == posts[0]["text"]


async def test_one_slack_message_per_story_under_throttling(httpserver: HTTPServer, run_env, spawn, kafka,
                                                           tmp_path) -> None:
    posts: list[dict] = []
    httpserver.expect_request("/slack", method="POST").respond_with_handler(
        lambda r: (posts.append(json.loads(r.get_data())), Response(status=200))[1])
    env = setup(tmp_path, run_env, "slack", T_SLACK=httpserver.url_for("/slack"))
    spawn("worker", ["worker"], env)
    wait_until(lambda: ready(env), 60, what="worker ready")
    body = ("Ukraine's air defence shot down 26 of 30 Shahed drones launched overnight at the southern and "
            "central regions, the air force said on Thursday morning.")
    story = [NewsItem(id=f"s{i}-{time.time_ns()}", title=title, summary=body + extra, lang="en", source=src,
                      url=f"https://{src}.example/s")
             for i, (title, extra, src) in enumerate([
                 ("Air defence downs 26 of 30 drones", "", "agency"),
                 ("Air defence downs 26 of 30 drones overnight", " More to follow.", "kyiv-independent"),
                 ("Ukraine's air defence downs 26 of 30 drones", " Updated.", "bbc")])]
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], story)
    wait_until(lambda: metric(env, "warwire_alerts_suppressed_total", 'reason="throttle",rule="air"') >= 2, 60,
               what="the story's later items to be throttled")
    time.sleep(2)
    assert len(posts) == 1
    assert "Air defence downs 26 of 30 drones" in posts[0]["text"]


async def test_broken_rule_edit_keeps_the_previous_rules_active(httpserver: HTTPServer, run_env, spawn, kafka,
                                                               tmp_path) -> None:
    keys: list[str] = []
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda r: (keys.append(r.headers["Idempotency-Key"]), Response(status=200))[1])
    env = setup(tmp_path, run_env, "hook", T_HOOK=httpserver.url_for("/hook"))
    spawn("worker", ["worker"], env)
    wait_until(lambda: ready(env), 60, what="worker ready")
    first, second = items(2)
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], [first])
    wait_until(lambda: len(keys) == 1, 60, what="the first alert")
    rules = Path(env["WARWIRE_RULES"]) / "test.yaml"
    rules.write_text(rules.read_text().replace("realert: 1h", "realert: soon\n    keywrds: [x]"))
    wait_until(lambda: metric(env, "warwire_config_reloads_total", 'kind="rules",result="error"') >= 1, 30,
               what="the broken edit to be rejected")
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], [second])
    wait_until(lambda: len(keys) == 2, 60, what="an alert from the previous rules after the broken edit")
    assert ready(env)


async def test_a_silence_mutes_matching_alerts_until_it_is_expired(httpserver: HTTPServer, run_env, spawn, kafka,
                                                                  tmp_path) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "streams.cli", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)

    keys: list[str] = []
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda r: (keys.append(r.headers["Idempotency-Key"]), Response(status=200))[1])
    env = setup(tmp_path, run_env, "hook", T_HOOK=httpserver.url_for("/hook"))
    spawn("worker", ["worker"], env)
    wait_until(lambda: ready(env), 60, what="worker ready")
    added = cli("silence", "add", "--topic", "air-defence", "--for", "1h", "--comment", "drill")
    assert added.returncode == 0, added.stderr
    sid = added.stdout.strip()
    listed = cli("silence", "list")
    assert listed.stdout.startswith(f"{sid}\tactive\tuntil ") and "topic=air-defence\tdrill" in listed.stdout
    wait_until(lambda: "warwire_alerts_silences_active 1.0" in scrape(env), 30, what="the worker to see the silence")
    first, second = items(2)
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], [first])
    wait_until(lambda: metric(env, "warwire_alerts_suppressed_total", 'reason="silence",rule="air"') >= 1, 60,
               what="the alert to be silenced")
    assert keys == []
    assert cli("silence", "expire", sid).stdout.strip() == f"expired {sid}"
    assert cli("silence", "list").stdout == ""
    assert "\texpired\t" in cli("silence", "list", "--all").stdout
    wait_until(lambda: "warwire_alerts_silences_active 0.0" in scrape(env), 30,
               what="the worker to see the silence expired")
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], [second])
    wait_until(lambda: len(keys) == 1, 60, what="an alert once the silence is expired")
