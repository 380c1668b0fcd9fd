"""Editors' feedback from Slack, decided here (pure): the buttons on a slack-app story message,
Slack's request signature, what a click means, the silence a mute becomes, the line the message
gains to show who acted, and the labelled JSONL that `warwire feedback export` writes for the
quality tools (`warwire taxonomy eval` reads the topic labels; benchmarks/quality.py's
duplicates.jsonl format takes the story pairs).

Buttons: "Not <topic>" for each topic of the alert, "Not the same story" (on a thread reply: a
later alert on a story the editor says it does not belong to), "Mute story 24 h", "Mute source
1 h". Each button's value carries what the action needs (≤ 2,000 characters, Slack's limit).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import parse_qs

import msgspec

from alerts.render import mrkdwn_escape
from alerts.silences import Silence
from streams.schema import SCHEMA_VERSION, Alert

SIGNATURE_VERSION = "v0"
MAX_AGE_S = 300.0            # Slack: reject requests whose timestamp is more than five minutes off
VALUE_MAX = 2000             # a button's value
MUTE_STORY_S = 24 * 3600.0
MUTE_SOURCE_S = 3600.0
KINDS = ("wrong_topic", "not_same_story", "mute_story", "mute_source")
_LABEL = {"not_same_story": "Not the same story", "mute_story": "Mute story 24 h", "mute_source": "Mute source 1 h"}


class Feedback(msgspec.Struct, frozen=True, kw_only=True):
    """One editor's action, as published on warwire.feedback."""

    id: str
    kind: str                 # one of KINDS
    at: float
    user: str = ""            # Slack user id
    user_name: str = ""
    alert: str = ""
    story: str = ""
    source: str = ""
    topic: str = ""           # wrong_topic: the topic the editor says is wrong
    item: dict[str, Any] = msgspec.field(default_factory=dict)   # the alert's item (title, summary, lang, url, source, topics)
    other: dict[str, Any] = msgspec.field(default_factory=dict)  # not_same_story: the story's first item
    channel: str = ""
    message_ts: str = ""
    v: int = SCHEMA_VERSION


def _item(alert: Alert, summary_max: int) -> dict[str, Any]:
    return {"id": alert.item or alert.id, "title": alert.title[:300], "summary": alert.summary[:summary_max],
            "lang": alert.lang, "url": alert.url[:500], "source": alert.source[:100], "topics": list(alert.topics)}


def _value(payload: dict[str, Any]) -> str:
    """A button's value within Slack's limit: the summary is shortened until it fits."""
    for summary_max in (600, 300, 100, 0):
        for key in ("item", "other"):
            if key in payload:
                payload[key]["summary"] = payload[key]["summary"][:summary_max]
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        if len(text) <= VALUE_MAX:
            return text
    return json.dumps({k: payload[k] for k in ("a", "s", "src")}, separators=(",", ":"))[:VALUE_MAX]


def buttons(alert: Alert, first: Alert | None = None) -> dict[str, Any]:
    """The actions block of a story message (`first` is None) or of a thread reply (`first`: the
    story's first alert)."""
    base = {"a": alert.id, "s": alert.story, "src": alert.source[:100], "item": _item(alert, 600)}
    elements: list[dict[str, Any]] = []

    def button(kind: str, label: str, extra: dict[str, Any], action_suffix: str = "") -> None:
        elements.append({"type": "button", "action_id": f"warwire.{kind}{action_suffix}"[:255],
                         "text": {"type": "plain_text", "text": label[:75], "emoji": False},
                         "value": _value({**base, "k": kind, **extra})})

    for i, topic in enumerate(alert.topics[:5]):
        button("wrong_topic", f"Not {topic}", {"t": topic}, f".{i}")
    if first is not None and first.id != alert.id:
        button("not_same_story", _LABEL["not_same_story"], {"other": _item(first, 600)})
    if alert.story:
        button("mute_story", _LABEL["mute_story"], {})
    if alert.source:
        button("mute_source", _LABEL["mute_source"], {})
    return {"type": "actions", "block_id": "warwire_feedback", "elements": elements}


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify(secret: str, timestamp: str | None, sig: str | None, body: bytes, now: float) -> str | None:
    """None when the request is Slack's (Slack's v0 signing: HMAC-SHA256 over
    `v0:<timestamp>:<body>`, timestamp within five minutes, compared in constant time), else why not."""
    if not timestamp or not sig:
        return "missing X-Slack-Request-Timestamp or X-Slack-Signature"
    try:
        ts = float(timestamp)
    except ValueError:
        return "X-Slack-Request-Timestamp is not a number"
    if abs(now - ts) > MAX_AGE_S:
        return "stale request (timestamp more than 5 minutes away)"
    if not hmac.compare_digest(signature(secret, timestamp, body), sig):
        return "signature does not match"
    return None


def parse(body: bytes, now: float) -> tuple[list[Feedback], dict[str, Any]]:
    """The feedback of one interaction request (form field `payload`, a block_actions JSON), and
    the payload itself (its message and response_url). Raises ValueError on anything else."""
    fields = parse_qs(body.decode("utf-8", "replace"))
    if "payload" not in fields:
        raise ValueError("no payload field")
    payload = json.loads(fields["payload"][0])  # a JSONDecodeError is a ValueError
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise ValueError(f"not a block_actions interaction: {str(payload)[:60]!r}")

    def obj(v: Any) -> dict[str, Any]:
        return v if isinstance(v, dict) else {}

    user = obj(payload.get("user"))
    channel = str(obj(payload.get("channel")).get("id", ""))
    ts = str(obj(payload.get("message")).get("ts", "") or obj(payload.get("container")).get("message_ts", ""))
    actions = payload.get("actions")
    out = []
    for action in actions if isinstance(actions, list) else []:
        action = obj(action)
        try:
            value = obj(json.loads(str(action.get("value") or "")))
        except json.JSONDecodeError:
            continue
        kind = value.get("k")
        if kind not in KINDS or not str(action.get("action_id", "")).startswith(f"warwire.{kind}"):
            continue
        out.append(Feedback(id=uuid.uuid4().hex[:16], kind=kind, at=now, user=str(user.get("id", "")),
                            user_name=str(user.get("username") or user.get("name") or ""), alert=str(value.get("a", "")),
                            story=str(value.get("s", "")), source=str(value.get("src", "")), topic=str(value.get("t", "")),
                            item=obj(value.get("item")), other=obj(value.get("other")), channel=channel, message_ts=ts))
    return out, payload


def silence_for(fb: Feedback) -> Silence | None:
    """A mute becomes a silence at once (kept in warwire.silences, like `warwire silence add`)."""
    who = f"slack:{fb.user_name or fb.user}"
    if fb.kind == "mute_story" and fb.story:
        return Silence(id=f"fb-{fb.id}", starts_at=fb.at, ends_at=fb.at + MUTE_STORY_S, story=fb.story,
                       comment="muted from Slack", created_by=who)
    if fb.kind == "mute_source" and fb.source:
        return Silence(id=f"fb-{fb.id}", starts_at=fb.at, ends_at=fb.at + MUTE_SOURCE_S, source=fb.source,
                       comment="muted from Slack", created_by=who)
    return None


def describe(fb: Feedback) -> str:
    """Who did what, as Slack mrkdwn: the editor as a mention, everything else escaped (the topic
    and the source come from the feed)."""
    topic, source = mrkdwn_escape(fb.topic), mrkdwn_escape(fb.source)
    what = {"wrong_topic": f"marked topic `{topic}` as wrong", "not_same_story": "said: not the same story",
            "mute_story": "muted this story for 24 h", "mute_source": f"muted source `{source}` for 1 h"}[fb.kind]
    who = f"<@{fb.user}>" if fb.user.isalnum() else mrkdwn_escape(fb.user_name or "someone")
    return f"{who} {what}"


def acted(message: dict[str, Any], fb: Feedback) -> dict[str, Any]:
    """The message as it should read after the action: its blocks and a context line saying who
    did what (for the interaction's response_url, replace_original)."""
    blocks = [b for b in message.get("blocks") or [] if b.get("block_id") != f"warwire_acted_{fb.id}"]
    line = {"type": "context", "block_id": f"warwire_acted_{fb.id}",
            "elements": [{"type": "mrkdwn", "text": describe(fb), "verbatim": True}]}
    if len(blocks) >= 50:
        blocks = blocks[:49]
    return {"replace_original": True, "text": message.get("text") or "warwire alert", "blocks": [*blocks, line]}


def export(feedback: list[Feedback], kind: str) -> list[dict[str, Any]]:
    """Labelled lines: kind "topics" gives items with `topics` (the alert's topics less the ones
    editors marked wrong), as `warwire taxonomy eval` reads them; kind "stories" gives pairs
    {a, b, duplicate: false} as tests/data/eval/duplicates.jsonl holds them."""
    if kind == "topics":
        wrong: dict[str, set[str]] = {}
        items: dict[str, dict[str, Any]] = {}
        for fb in feedback:
            if fb.kind == "wrong_topic" and fb.item.get("id"):
                items[fb.item["id"]] = fb.item
                wrong.setdefault(fb.item["id"], set()).add(fb.topic)
        return [{**{k: v for k, v in item.items() if k != "topics"},
                 "topics": [t for t in item.get("topics", []) if t not in wrong[i]]} for i, item in items.items()]
    if kind == "stories":
        pairs = {}
        for fb in feedback:
            if fb.kind == "not_same_story" and fb.item.get("id") and fb.other.get("id"):
                pid = f"fb-{fb.other['id']}-{fb.item['id']}"
                pairs[pid] = {"id": pid, "kind": "editor", "duplicate": False, "split": "feedback",
                              "a": {k: v for k, v in fb.other.items() if k != "topics"},
                              "b": {k: v for k, v in fb.item.items() if k != "topics"}}
        return list(pairs.values())
    raise ValueError(f"unknown export kind {kind!r} (topics or stories)")
