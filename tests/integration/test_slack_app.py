"""Issue 15 on the real broker: a `warwire worker` with a slack-app receiver pointed at a local
stand-in of Slack's Web API (tests/slack_api.py, payloads validated with slack_sdk)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.schema import NewsItem
from tests.conftest import publish, wait_until
from tests.integration.test_delivery import ready
from tests.slack_api import TOKEN, SlackAPI, write_rules

pytestmark = pytest.mark.kafka

STORIES = [
    ("Air defence intercepts drones over Kharkiv overnight",
     "The regional governor said debris damaged two houses and a school in the city's north."),
    ("Germany to send a third Patriot missile battery to Ukraine",
     "The defence ministry in Berlin confirmed the delivery date for the air defence system."),
]


@pytest.fixture
def api() -> Iterator[SlackAPI]:
    server = SlackAPI().start()
    yield server
    server.stop()


def env_for(tmp_path: Path, run_env: dict[str, str], api: SlackAPI) -> dict[str, str]:
    return dict(run_env, WARWIRE_RULES=str(write_rules(tmp_path / "rules", api)), T_SLACK_BOT_TOKEN=TOKEN)


def copies(story: int, outlets: range) -> list[NewsItem]:
    title, summary = STORIES[story]
    return [NewsItem(id=f"s{story}-o{n}-{time.time_ns()}", title=title, summary=summary, lang="en",
                     source=f"outlet-{n}", url=f"https://outlet-{n}.example/{story}") for n in outlets]


def top_level(api: SlackAPI) -> list[dict]:
    return [b for b in api.called("chat.postMessage") if "thread_ts" not in b]


async def test_three_outlets_on_one_story_give_one_message_and_its_edits(api, run_env, spawn, kafka, tmp_path) -> None:
    env = env_for(tmp_path, run_env, api)
    spawn("worker", ["worker"], env)
    wait_until(lambda: ready(env), 60, what="worker ready")
    for n in range(3):  # one outlet after another, as a story spreads
        await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], copies(0, range(n, n + 1)))
        wait_until(lambda n=n: len(api.calls) >= 1 + n, 60, what=f"Slack calls after outlet {n}")
    wait_until(lambda: any("thread_ts" in b for b in api.called("chat.postMessage")), 60, what="the coverage reply")
    time.sleep(3)
    (message,) = api.messages("C0NEWS")
    assert len(top_level(api)) == 1, api.calls
    assert "3 outlet(s)" in str(message["blocks"]), message
    assert {u["ts"] for u in api.called("chat.update")} == {message["ts"]} and api.invalid == []


async def test_a_sigkill_mid_stream_still_leaves_one_message_per_story(api, run_env, spawn, kafka, tmp_path) -> None:
    env = env_for(tmp_path, run_env, api)
    worker = spawn("worker", ["worker"], env)
    wait_until(lambda: ready(env), 60, what="worker ready")
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], copies(0, range(0, 2)) + copies(1, range(0, 2)))
    wait_until(lambda: len(top_level(api)) >= 1, 60, what="a first message")
    os.killpg(worker.p.pid, signal.SIGKILL)  # the worker and its helpers, mid-stream
    worker.p.wait(10)
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], copies(0, range(2, 4)) + copies(1, range(2, 4)))
    spawn("worker-2", ["worker"], env)
    wait_until(lambda: ready(env), 90, what="the worker again")
    wait_until(lambda: len(api.messages("C0NEWS")) == 2 and all(
        "4 outlet(s)" in str(m["blocks"]) for m in api.messages("C0NEWS")), 90, what="both stories at 4 outlets")
    time.sleep(3)
    assert len(top_level(api)) == 2, api.calls
    assert api.invalid == []
