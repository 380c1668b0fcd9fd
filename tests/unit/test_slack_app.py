"""Issue 15: the slack-app receiver, driven in-process (tests/agents_harness.py) against a local
stand-in for Slack's Web API (tests/slack_api.py) that validates every payload with slack_sdk:
one living message per story, thread replies, edits as outlets join, 429s, edits Slack refuses,
and a crash mid-POST reconciled from the channel's history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts import delivery, delivery_lanes, slack_app
from alerts.loader import load_rules
from streams.core.pipeline import analyze_values
from streams.core.spec import SpecError
from streams.schema import Alert, DeliveryTask, NewsItem, decode, encode
from tests.agents_harness import Event, Harness, Message
from tests.slack_api import TOKEN, SlackAPI, write_rules

TOPICS = {"air-defence", "energy-infrastructure", "nato-accession"}
TITLE = "Air defence intercepts drones over Kharkiv overnight"
SUMMARY = "The regional governor said debris damaged two houses and a school in the city's north."


@pytest.fixture
def api() -> Iterator[SlackAPI]:
    server = SlackAPI().start()
    yield server
    server.stop()


@pytest.fixture
def h(tmp_path: Path, api: SlackAPI, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.setattr(slack_app, "CHANNEL_INTERVAL_S", 0.0)
    monkeypatch.setenv("T_SLACK_BOT_TOKEN", TOKEN)
    return Harness(tmp_path, rules=write_rules(tmp_path / "rules", api))


def outlet(h: Harness, n: int, offset: int) -> Event:
    item = NewsItem(id=f"kh-{n}", title=TITLE, summary=SUMMARY, lang="en", source=f"outlet-{n}",
                    url=f"https://outlet-{n}.example/kharkiv")
    (record,), _ = analyze_values(h.w.config.taxonomy, [encode(item)])
    return Event(Message("warwire.analyzed", 0, offset, b"en", record[1]))


async def deliver_all(h: Harness) -> None:
    """Everything stage 2 sent so far, through the fan-out and the receiver's lane."""
    alerts = h.topics.alerts.events()
    h.topics.alerts.sent.clear()
    if alerts:
        await h.run("deliver", alerts)
    tasks = h.topics.deliveries.events()
    h.topics.deliveries.sent.clear()
    if tasks:
        await h.run("lane newsroom", tasks)


def top_level(api: SlackAPI) -> list[dict]:
    return [b for b in api.called("chat.postMessage") if "thread_ts" not in b]


async def test_three_outlets_make_one_message_edited_as_they_join_and_one_thread_reply(h: Harness, api: SlackAPI) -> None:
    for n in range(3):
        await h.run("decide", [outlet(h, n, n)])
        await deliver_all(h)
    assert len(top_level(api)) == 1, api.calls
    (message,) = api.messages("C0NEWS")
    replies = [b for b in api.called("chat.postMessage") if "thread_ts" in b]
    assert [r["metadata"]["event_payload"]["rule"] for r in replies] == ["wide"]  # the coverage threshold
    assert replies[0]["thread_ts"] == message["ts"]
    assert len(api.called("chat.update")) >= 2 and {u["ts"] for u in api.called("chat.update")} == {message["ts"]}
    shown = str(message["blocks"])
    assert "3 outlet(s)" in shown and "outlet-2" not in TITLE
    assert message["metadata"]["event_type"] == "warwire_alert" and api.invalid == []


async def test_a_crash_mid_post_is_reconciled_from_the_channel_not_posted_twice(h: Harness, api: SlackAPI) -> None:
    await h.run("decide", [outlet(h, 0, 0)])
    await h.run("deliver", h.topics.alerts.events())
    tasks = h.topics.deliveries.events()
    await h.run("lane newsroom", tasks)
    (task,) = [decode(DeliveryTask, e.value) for e in tasks]
    assert task.alert is not None
    key = delivery.idempotency_key(task.alert.id, "newsroom")
    story_key = slack_app.message_key("newsroom", task.alert.story)
    # As a worker killed after the POST left it: `sending`, and no message remembered.
    db = h.tables.delivered.data._db_for_partition(0).db
    db[key.encode()] = delivery.SENDING
    del db[story_key.encode()]
    await h.run("lane newsroom", tasks)
    assert len(top_level(api)) == 1 and len(api.called("conversations.history")) == 1
    assert db[key.encode()] == delivery.DELIVERED
    assert slack_app.decode_message(db[story_key.encode()]).ts == api.messages("C0NEWS")[0]["ts"]
    # A crash before the POST reached Slack: the history has no such message, so it is posted.
    api.channels["C0NEWS"].clear()
    db[key.encode()] = delivery.SENDING
    del db[story_key.encode()]
    await h.run("lane newsroom", tasks)
    assert len(top_level(api)) == 2 and len(api.messages("C0NEWS")) == 1


async def test_a_429_waits_in_the_retry_tiers_and_then_posts(h: Harness, api: SlackAPI) -> None:
    api.fail_next("chat.postMessage", "ratelimited", retry_after=30)
    await h.run("decide", [outlet(h, 0, 0)])
    await deliver_all(h)
    assert api.messages("C0NEWS") == []
    (tier, topic), = [(t, topic) for t, topic in h.topics.retries.items() if topic.sent]
    assert tier == 15  # 30 s: held in the 15 s tier, twice
    retry = decode(DeliveryTask, topic.sent[0][1])
    assert retry.attempt == 2 and "ratelimited" in retry.last_error
    await h.run("lane newsroom", [Event(Message("warwire.deliveries", 0, 9, None, encode(
        DeliveryTask(alert=retry.alert, receiver="newsroom", attempt=2, not_before=0.0))))])
    assert len(api.messages("C0NEWS")) == 1


async def test_an_edit_slack_refuses_posts_the_story_anew_and_keeps_the_new_message(h: Harness, api: SlackAPI) -> None:
    await h.run("decide", [outlet(h, 0, 0)])
    await deliver_all(h)
    first = api.messages("C0NEWS")[0]["ts"]
    api.forgotten.add(first)  # deleted by an editor meanwhile: chat.update answers message_not_found
    await h.run("decide", [outlet(h, 1, 1)])
    await deliver_all(h)
    assert len(top_level(api)) == 2
    second = api.messages("C0NEWS")[-1]["ts"]
    await h.run("decide", [outlet(h, 2, 2)])
    await deliver_all(h)
    assert {u["ts"] for u in api.called("chat.update")} == {first, second}
    assert api.called("chat.update")[-1]["ts"] == second


async def test_calls_to_one_channel_are_paced_to_one_a_second(h: Harness, api: SlackAPI,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slack_app, "CHANNEL_INTERVAL_S", 1.0)
    for n in range(3):
        await h.run("decide", [outlet(h, n, n)])
    await deliver_all(h)
    times = [t for _, _, t in api.calls]
    assert len(times) >= 3
    assert all(b - a >= 0.95 for a, b in zip(times, times[1:], strict=False)), times


def test_a_slack_app_receiver_needs_its_token_variable_and_channel(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("receivers:\n  s: {type: slack-app, channel: C1, token_env: xoxb-123-abc}\nrules: []\n")
    with pytest.raises(SpecError) as err:
        load_rules([path], TOPICS)
    assert "r.yaml:2: receivers.s.token_env: expected the name of an environment variable holding the bot token" in str(err.value)
    assert "xoxb-123-abc" not in str(err.value)
    path.write_text("receivers:\n  s: {type: slack-app, token_env: T}\nrules: []\n")
    with pytest.raises(SpecError, match="needs channel"):
        load_rules([path], TOPICS)
    assert delivery_lanes.task_key  # the lanes key tasks by story (test_three_outlets… relies on it)


async def test_every_message_carries_the_editors_buttons_within_block_kit(h: Harness, api: SlackAPI) -> None:
    for n in range(3):
        await h.run("decide", [outlet(h, n, n)])
        await deliver_all(h)
    (root,) = top_level(api)
    (reply,) = [b for b in api.called("chat.postMessage") if "thread_ts" in b]
    ids = [e["action_id"] for e in root["blocks"][-1]["elements"]]
    assert ids == ["warwire.wrong_topic.0", "warwire.mute_story", "warwire.mute_source"]
    reply_ids = [e["action_id"] for e in reply["blocks"][-1]["elements"]]
    assert "warwire.not_same_story" in reply_ids
    assert api.invalid == [] and all(len(e["value"]) <= 2000 for e in reply["blocks"][-1]["elements"])


async def test_a_follow_up_story_is_a_reply_in_the_earlier_storys_thread(h: Harness, api: SlackAPI) -> None:
    await h.run("decide", [outlet(h, 0, 0)])
    await deliver_all(h)
    (root,) = api.messages("C0NEWS")
    earlier = root["metadata"]["event_payload"]["story"]
    follow = DeliveryTask(alert=Alert(id="f1", rule="air", severity="warning", key="s-new", fired_at=datetime.now(UTC),
                                      receivers=["newsroom"], title="Kharkiv: investigators find drone debris", story="s-new",
                                      related_to=earlier, source="outlet-7", topics=["air-defence"], item="f-1", lang="en"),
                          receiver="newsroom", attempt=1, not_before=0.0)
    assert delivery_lanes.task_key(follow) == earlier.encode()  # with the story it follows, in one partition
    await h.run("lane newsroom", [Event(Message("warwire.deliveries", 0, 50, earlier.encode(), encode(follow)))])
    (reply,) = [b for b in api.called("chat.postMessage") if "thread_ts" in b]
    assert reply["thread_ts"] == root["ts"] and len(top_level(api)) == 1
    assert "warwire.not_same_story" in [e["action_id"] for e in reply["blocks"][-1]["elements"]]


async def test_a_story_update_that_overtakes_its_alert_is_shown_by_the_first_message(h: Harness, api: SlackAPI) -> None:
    """Story updates go straight to the lanes, alerts through one more hop: after a burst (or a
    restart) a story's updates can reach the lane before its first alert. Before the fix they
    were dropped, and the message never showed the outlets that had joined."""
    for n in range(2):  # two outlets: one alert (air), one story update
        await h.run("decide", [outlet(h, n, n)])
    updates = [e for e in h.topics.deliveries.events() if decode(DeliveryTask, e.value).story is not None]
    assert len(updates) == 1
    h.topics.deliveries.sent.clear()
    await h.run("lane newsroom", updates)  # the update first: no message yet
    assert api.messages("C0NEWS") == []
    await deliver_all(h)  # then the alert, whose own outlet count is 1
    (message,) = api.messages("C0NEWS")
    assert "2 outlet(s)" in str(message["blocks"]), message
