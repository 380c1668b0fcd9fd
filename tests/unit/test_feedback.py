"""Issue 15: editors' feedback from Slack (alerts/feedback.py): Slack's request signature, what a
click means, the silence a mute becomes, and the labelled lines `warwire feedback export` writes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from alerts import feedback
from alerts.silences import silenced_by
from streams.schema import Alert

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def alert(**kw: object) -> Alert:
    base = dict(id="a1", rule="air", severity="warning", key="s-1", fired_at=datetime.now(UTC), receivers=["newsroom"],
                title="Air defence intercepts drones over Kharkiv", summary="Debris damaged two houses.", url="https://o.example/1",
                source="outlet-1", story="s-1", topics=["air-defence", "energy-infrastructure"], item="it-1", lang="en")
    return Alert(**{**base, **kw})  # type: ignore[arg-type]


def click(action: dict, user: str = "U042EDITOR") -> bytes:
    payload = {"type": "block_actions", "user": {"id": user, "username": "anna"}, "channel": {"id": "C0NEWS"},
               "message": {"ts": "1796300000.000001", "text": "[warning] Air defence", "blocks": [{"type": "divider"}]},
               "actions": [{"action_id": action["action_id"], "value": action["value"], "type": "button"}]}
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_the_signature_is_slacks_own_v0_scheme_and_refuses_everything_else() -> None:
    body, now = b"payload=%7B%7D", time.time()
    ts = str(int(now))
    sig = feedback.signature(SECRET, ts, body)
    # slack_sdk's own verifier agrees with ours on a request we sign.
    assert SignatureVerifier(SECRET).is_valid(body, ts, sig)
    assert feedback.verify(SECRET, ts, sig, body, now) is None
    assert feedback.verify(SECRET, ts, sig, body + b"x", now) == "signature does not match"
    assert feedback.verify("another-secret", ts, sig, body, now) == "signature does not match"
    assert feedback.verify(SECRET, str(int(now) - 301), feedback.signature(SECRET, str(int(now) - 301), body), body, now) \
        == "stale request (timestamp more than 5 minutes away)"
    assert feedback.verify(SECRET, None, sig, body, now) and feedback.verify(SECRET, ts, None, body, now)
    assert feedback.verify(SECRET, "soon", sig, body, now) == "X-Slack-Request-Timestamp is not a number"


def test_buttons_carry_what_each_action_needs_and_parse_back() -> None:
    first = alert(id="a0", item="it-0", source="outlet-0", title="Drones shot down over Kharkiv")
    block = feedback.buttons(alert(), first)
    by_id = {e["action_id"]: e for e in block["elements"]}
    assert list(by_id) == ["warwire.wrong_topic.0", "warwire.wrong_topic.1", "warwire.not_same_story",
                           "warwire.mute_story", "warwire.mute_source"]
    (fb,), _ = feedback.parse(click(by_id["warwire.wrong_topic.1"]), 100.0)
    assert (fb.kind, fb.topic, fb.user, fb.item["id"], fb.item["lang"]) == (
        "wrong_topic", "energy-infrastructure", "U042EDITOR", "it-1", "en")
    (pair,), _ = feedback.parse(click(by_id["warwire.not_same_story"]), 100.0)
    assert pair.other["id"] == "it-0" and pair.item["id"] == "it-1"
    # A long summary is cut so that the value stays within Slack's 2,000 characters.
    long = feedback.buttons(alert(summary="x" * 5000, title="y" * 300), first)
    assert all(len(e["value"]) <= 2000 for e in long["elements"])
    with pytest.raises(ValueError, match="not a block_actions"):
        feedback.parse(urlencode({"payload": json.dumps({"type": "view_submission"})}).encode(), 0)


def test_a_mute_becomes_a_silence_that_silences_that_story_or_source_only() -> None:
    by_id = {e["action_id"]: e for e in feedback.buttons(alert())["elements"]}
    (story_fb,), _ = feedback.parse(click(by_id["warwire.mute_story"]), 1000.0)
    s = feedback.silence_for(story_fb)
    assert s is not None and s.story == "s-1" and s.ends_at - s.starts_at == 24 * 3600 and s.created_by == "slack:anna"
    assert silenced_by([s], alert(), 2000.0) is s and silenced_by([s], alert(story="s-2"), 2000.0) is None
    (source_fb,), _ = feedback.parse(click(by_id["warwire.mute_source"]), 1000.0)
    src = feedback.silence_for(source_fb)
    assert src is not None and src.source == "outlet-1" and src.ends_at - src.starts_at == 3600
    (wrong,), _ = feedback.parse(click(by_id["warwire.wrong_topic.0"]), 1000.0)
    assert feedback.silence_for(wrong) is None
    shown = feedback.acted({"text": "t", "blocks": [{"type": "divider"}]}, story_fb)
    assert shown["blocks"][-1]["elements"][0]["text"] == "<@U042EDITOR> muted this story for 24 h"


def test_export_gives_taxonomy_eval_items_and_duplicate_pairs() -> None:
    first = alert(id="a0", item="it-0", source="outlet-0")
    by_id = {e["action_id"]: e for e in feedback.buttons(alert(), first)["elements"]}
    fbs = [feedback.parse(click(by_id[k]), 1.0)[0][0] for k in ("warwire.wrong_topic.1", "warwire.not_same_story")]
    (item,) = feedback.export(fbs, "topics")
    assert item["topics"] == ["air-defence"] and item["title"].startswith("Air defence") and item["lang"] == "en"
    (pair,) = feedback.export(fbs, "stories")
    assert pair["duplicate"] is False and pair["a"]["id"] == "it-0" and pair["b"]["id"] == "it-1"
    with pytest.raises(ValueError):
        feedback.export(fbs, "rules")


@pytest.mark.parametrize("payload", [
    "[1, 2]", '"text"', '{"type": "block_actions", "user": "U1", "channel": 5, "message": [], "actions": {"a": 1}}',
    '{"type": "block_actions", "actions": ["x", {"action_id": 7, "value": "[1]"}, {"value": "{\\"k\\": \\"mute_story\\"}"}]}',
])
def test_hostile_interaction_payloads_are_refused_or_ignored_never_crash(payload: str) -> None:
    body = urlencode({"payload": payload}).encode()
    try:
        actions, _ = feedback.parse(body, 0.0)
    except ValueError:
        return
    assert actions == []  # nothing that is not one of our buttons becomes an action


def test_a_payload_that_is_not_json_is_refused() -> None:
    with pytest.raises(ValueError):
        feedback.parse(b"payload=%7Bnot json", 0.0)
    with pytest.raises(ValueError, match="no payload"):
        feedback.parse(b"token=x", 0.0)


def test_the_line_showing_who_acted_escapes_what_came_from_the_feed() -> None:
    """The source and topic in "muted source `…`" come from the feed: a source named like a link
    or a mention must reach Slack as text (issue 15's escaping rule), whoever clicked."""
    hostile = alert(source="<https://evil.example|click here> <@U999> &")
    by_id = {e["action_id"]: e for e in feedback.buttons(hostile)["elements"]}
    (fb,), _ = feedback.parse(click(by_id["warwire.mute_source"]), 1.0)
    text = feedback.acted({"text": "t", "blocks": []}, fb)["blocks"][-1]["elements"][0]["text"]
    assert text.startswith("<@U042EDITOR> muted source") and "<https" not in text and "<@U999>" not in text
    assert "&lt;https://evil.example|click here&gt; &lt;@U999&gt; &amp;" in text
