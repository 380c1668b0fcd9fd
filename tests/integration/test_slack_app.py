"""Issue 15 on the real broker: a `warwire worker` with a slack-app receiver pointed at a local
stand-in of Slack's Web API (tests/slack_api.py, payloads validated with slack_sdk)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from alerts import feedback
from streams.schema import NewsItem
from tests.conftest import publish, wait_until
from tests.integration.test_delivery import ready
from tests.slack_api import TOKEN, SlackAPI, write_rules

pytestmark = pytest.mark.kafka

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the Slack app's signing secret

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
    env = dict(env_for(tmp_path, run_env, api), WARWIRE_SLACK_SIGNING_SECRET=SECRET)
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
    # An editor says the reply's item is not the same story: exported as a labelled pair.
    (reply,) = [b for b in api.called("chat.postMessage") if "thread_ts" in b]
    click = block_actions({**reply, "ts": "1.0"}, "warwire.not_same_story")
    now = str(int(time.time()))
    assert post_click(env, click, now, feedback.signature(SECRET, now, click)) == 200
    res = subprocess.run([sys.executable, "-m", "streams.cli", "feedback", "export", "--kind", "stories"], env=env,
                         capture_output=True, text=True, timeout=60)
    (pair,) = [json.loads(x) for x in res.stdout.splitlines()]
    assert pair["duplicate"] is False and pair["a"]["source"] == "outlet-0" and pair["b"]["source"] == "outlet-2"


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



def post_click(env: dict[str, str], body: bytes, ts: str | None, sig: str | None) -> int:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if ts is not None:
        headers["X-Slack-Request-Timestamp"] = ts
    if sig is not None:
        headers["X-Slack-Signature"] = sig
    req = urllib.request.Request(f"http://127.0.0.1:{env['WARWIRE_METRICS_PORT']}/slack/interactions", data=body,
                                 headers=headers, method="POST")
    try:
        return urllib.request.urlopen(req, timeout=20).status
    except urllib.error.HTTPError as exc:
        return exc.code


def block_actions(message: dict, action_id: str) -> bytes:
    (button,) = [e for e in message["blocks"][-1]["elements"] if e["action_id"] == action_id]
    payload = {"type": "block_actions", "user": {"id": "U042EDITOR", "username": "anna"}, "channel": {"id": "C0NEWS"},
               "message": message, "actions": [{"action_id": action_id, "value": button["value"], "type": "button"}]}
    return urlencode({"payload": json.dumps(payload)}).encode()


async def test_a_signed_click_mutes_the_story_and_unsigned_or_stale_ones_get_401(api, run_env, spawn, kafka,
                                                                                 tmp_path) -> None:
    env = dict(env_for(tmp_path, run_env, api), WARWIRE_SLACK_SIGNING_SECRET=SECRET)
    spawn("worker", ["worker"], env)
    wait_until(lambda: ready(env), 60, what="worker ready")
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], copies(0, range(0, 1)))
    wait_until(lambda: api.messages("C0NEWS"), 60, what="the story's message")
    (message,) = api.messages("C0NEWS")
    mute = block_actions(message, "warwire.mute_story")
    now = str(int(time.time()))
    assert post_click(env, mute, None, None) == 401
    assert post_click(env, mute, now, feedback.signature("not-the-secret", now, mute)) == 401
    stale = str(int(time.time()) - 600)
    assert post_click(env, mute, stale, feedback.signature(SECRET, stale, mute)) == 401
    assert post_click(env, mute, now, feedback.signature(SECRET, now, mute) + "0") == 401
    assert post_click(env, mute, now, feedback.signature(SECRET, now, mute)) == 200
    wrong = block_actions(message, "warwire.wrong_topic.0")
    assert post_click(env, wrong, now, feedback.signature(SECRET, now, wrong)) == 200
    # The silence is in force at once, and listed.
    listed = subprocess.run([sys.executable, "-m", "streams.cli", "silence", "list"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert f"story={message['metadata']['event_payload']['story']}" in listed.stdout, listed.stdout + listed.stderr
    # The message shows who acted.
    wait_until(lambda: any("muted this story" in str(u["blocks"]) for u in api.called("chat.update")), 30,
               what="the message edited to show the mute")
    # The story's next alert (its third outlet: coverage) is silenced: no thread reply.
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], copies(0, range(1, 3)))
    time.sleep(8)
    assert not any("thread_ts" in b for b in api.called("chat.postMessage")), api.calls
    # "wrong topic" is exported in the format `warwire taxonomy eval` reads, and it reads it.
    out = tmp_path / "feedback.jsonl"
    res = subprocess.run([sys.executable, "-m", "streams.cli", "feedback", "export", "--kind", "topics", "-o", str(out)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert line["topics"] == [] and line["title"] == STORIES[0][0]
    ev = subprocess.run([sys.executable, "-m", "streams.cli", "taxonomy", "eval", str(out)], env=env,
                        capture_output=True, text=True, timeout=60)
    assert "air-defence" in ev.stdout and "precision" in ev.stdout, ev.stdout + ev.stderr


async def test_a_worker_killed_while_slack_answers_is_reconciled_from_history(api, run_env, spawn, kafka,
                                                                              tmp_path) -> None:
    """The POST reached Slack but the worker died before the answer: its ledger says `sending`.
    The next worker reads the channel's history, finds the alert id in a message's metadata, and
    posts nothing again."""
    env = env_for(tmp_path, run_env, api)
    api.hang["chat.postMessage"] = 30.0
    worker = spawn("worker", ["worker"], env)
    wait_until(lambda: ready(env), 60, what="worker ready")
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], copies(0, range(0, 1)))
    wait_until(lambda: api.messages("C0NEWS"), 60, what="the message, its answer held back")
    os.killpg(worker.p.pid, signal.SIGKILL)
    worker.p.wait(10)
    spawn("worker-2", ["worker"], env)
    wait_until(lambda: api.called("conversations.history"), 90, what="the reconciliation")
    time.sleep(4)
    assert len(top_level(api)) == 1 and len(api.messages("C0NEWS")) == 1, api.calls


async def test_429s_pacing_and_a_refused_edit_on_the_real_broker(api, run_env, spawn, kafka, tmp_path) -> None:
    env = env_for(tmp_path, run_env, api)
    api.fail_next("chat.postMessage", "ratelimited", retry_after=3)
    spawn("worker", ["worker"], env)
    wait_until(lambda: ready(env), 60, what="worker ready")
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], copies(0, range(0, 1)))
    wait_until(lambda: api.messages("C0NEWS"), 60, what="the message after the 429")
    posts = [t for m, _, t in api.calls if m == "chat.postMessage"]
    assert len(posts) == 2 and posts[1] - posts[0] >= 3.0  # Retry-After honoured
    first = api.messages("C0NEWS")[0]["ts"]
    api.forgotten.add(first)  # deleted meanwhile: the edit is refused, the story posted anew
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], copies(0, range(1, 2)))
    wait_until(lambda: len(top_level(api)) == 2, 60, what="the story posted anew")
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], copies(0, range(2, 3)))
    wait_until(lambda: api.called("chat.update") and api.called("chat.update")[-1]["ts"] != first, 60,
               what="edits of the new message")
    times = [t for _, _, t in api.calls]
    assert all(b - a >= 0.95 for a, b in zip(times, times[1:], strict=False)), times  # one call a second per channel
    assert api.invalid == []


DIGEST_RULES = """
receivers:
  newsroom: {type: slack-app, token_env: T_SLACK_BOT_TOKEN, channel: C0NEWS, api_url: API}
rules:
  - {name: air-digest, type: match, topics: [air-defence], key: item, realert: 1h, group_wait: 4s,
     group_interval: 1m, receivers: [newsroom]}
"""


async def test_a_long_digest_is_cut_at_a_line_within_block_kit_and_says_how_many_more(api, run_env, spawn, kafka,
                                                                                     tmp_path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(DIGEST_RULES.replace("API", api.url))
    env = dict(run_env, WARWIRE_RULES=str(rules), T_SLACK_BOT_TOKEN=TOKEN)
    spawn("worker", ["worker"], env)
    wait_until(lambda: ready(env), 60, what="worker ready")
    n = 70
    items = [NewsItem(id=f"dg-{i}-{time.time_ns()}", lang="en", source=f"outlet-{i % 7}", url=f"https://d.example/{i}",
                      title=f"Air defence report {i}: interceptors engaged {i + 3} drones near checkpoint {i * 7} "
                            f"in the {['north', 'south', 'east', 'west'][i % 4]}ern sector, the regional command said "
                            f"in its update number {i}",
                      summary="The air force listed the interceptions by district.") for i in range(n)]
    await publish(kafka.bootstrap, env["WARWIRE_TOPIC_PREFIX"], items)
    wait_until(lambda: any("alerts of air-digest" in b.get("text", "") for b in top_level(api)), 90, what="the digest")
    (digest,) = [b for b in top_level(api) if "alerts of air-digest" in b.get("text", "")]
    assert api.invalid == [] and len(digest["blocks"]) <= 50
    sections = [b["text"]["text"] for b in digest["blocks"] if b["type"] == "section"]
    assert all(len(t) <= 3000 for t in sections)
    (listing,) = [t for t in sections if t.startswith("•")]
    rows = listing.splitlines()
    more = int(rows[-1].removeprefix("… and ").removesuffix(" more"))
    assert all(r.startswith("• <https://d.example/") for r in rows[:-1])  # cut at a line, never inside a link
    assert len(rows) - 1 + more == int(digest["text"].split("] ")[-1].split(" alerts")[0])  # nothing silently dropped
