"""Slack as an app (receiver type `slack-app`): one living message per story, through Slack's Web
API with a bot token, instead of an incoming webhook's fire-and-forget POST.

- A story's first alert is `chat.postMessage`; the (receiver, story) → channel and `ts` of that
  message is kept in the delivery ledger (a Kafka-backed table on the deliveries partitions,
  which are keyed by story), so it survives restarts and partition moves.
- As outlets join the story (its StoryUpdate records), that same message is edited
  (`chat.update`: outlet count, sources, topics); a later alert on the story (a coverage
  threshold crossed, another rule) is a thread reply (`thread_ts` = the first message's ts) and
  edits the first message too. A follow-up story (its `related_to` names an earlier story with a
  message) is a reply in that story's thread, and its own changes edit that reply. A message
  Slack no longer lets us edit (`message_not_found`, `cant_update_message`, `edit_window_closed`)
  is posted anew and its new ts remembered.
- Every message carries the alert id in its `metadata`. A delivery left ambiguous by a crash
  mid-POST (ledger `sending`) is reconciled by reading the channel's recent history
  (`conversations.history`, or `conversations.replies` for a thread) before posting again.
- At most one call per channel per second, client-side; an HTTP 429's `Retry-After` and
  Slack's retryable errors go back through the retry tiers.

The decisions (payloads, error classes, merging a story update into the message) are pure
functions; `SlackApp` is the I/O shell the delivery lanes call.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
import orjson

from alerts import feedback
from alerts.render import slack_payload
from streams.schema import Alert, StoryUpdate

METADATA_EVENT = "warwire_alert"
REPOST_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
RETRYABLE_ERRORS = frozenset({"ratelimited", "service_unavailable", "internal_error", "fatal_error",
                              "request_timeout"})
CHANNEL_INTERVAL_S = 1.0   # Slack allows about one message per second per channel
HISTORY_WINDOW_S = 3600.0  # how far back a reconciliation reads the channel
TIMEOUT_S = 10.0


class StoryMessage(msgspec.Struct, frozen=True, kw_only=True):
    """The message a slack-app receiver keeps for a story, in the delivery ledger."""

    channel: str
    ts: str
    alert: Alert   # what the message shows, with the story's latest outlets, sources and topics
    thread: str = ""  # the thread it replies in (a follow-up story's message), else ""


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(StoryMessage)


def message_key(receiver: str, story: str) -> str:
    return f"slack-message:{receiver}:{story}"


def pending_key(receiver: str, story: str) -> str:
    """A story's latest state seen before its message exists (its update overtook its alert,
    which goes through one more hop): the message is posted with it."""
    return f"slack-pending:{receiver}:{story}"


def encode_message(m: StoryMessage) -> bytes:
    return _enc.encode(m)


def decode_message(value: bytes | None) -> StoryMessage | None:
    if not value:
        return None
    try:
        return _dec.decode(value)
    except msgspec.DecodeError:
        return None


def metadata(alert: Alert) -> dict[str, Any]:
    return {"event_type": METADATA_EVENT, "event_payload": {"alert_id": alert.id, "story": alert.story,
                                                            "rule": alert.rule}}


def _with_buttons(payload: dict[str, Any], alert: Alert, first: Alert | None = None) -> dict[str, Any]:
    """The message with the editors' buttons (alerts/feedback.py) as its last block."""
    actions = feedback.buttons(alert, first)
    if actions["elements"]:
        payload = {**payload, "blocks": [*payload["blocks"][:49], actions]}
    return payload


def post_body(alert: Alert, channel: str, thread_ts: str | None = None, first: Alert | None = None) -> dict[str, Any]:
    """chat.postMessage: the story's message, or (thread_ts, first: the story's first alert) a reply."""
    body = {**_with_buttons(slack_payload(alert), alert, first), "channel": channel, "metadata": metadata(alert),
            "unfurl_links": False, "unfurl_media": False}
    if thread_ts:
        body["thread_ts"] = thread_ts
    return body


def update_body(message: StoryMessage) -> dict[str, Any]:
    return {**_with_buttons(slack_payload(message.alert), message.alert), "channel": message.channel, "ts": message.ts,
            "metadata": metadata(message.alert)}


def with_story(alert: Alert, update: StoryUpdate) -> Alert:
    """The alert as its story now stands: outlets, sources and topics it gained (never fewer)."""
    topics = list(dict.fromkeys([*alert.topics, *update.topics]))
    sources = list(dict.fromkeys([*alert.sources, *update.sources]))
    return msgspec.structs.replace(alert, outlets=max(alert.outlets, update.outlets), sources=sources, topics=topics)


def merged(alert: Alert, later: Alert) -> Alert:
    """The story message after a later alert on the story: the first alert's headline, the
    later one's counts where they grew."""
    return msgspec.structs.replace(
        alert, outlets=max(alert.outlets, later.outlets), severity=later.severity if later.severity == "critical"
        else alert.severity, sources=list(dict.fromkeys([*alert.sources, *later.sources])),
        topics=list(dict.fromkeys([*alert.topics, *later.topics])))


def found_in(messages: list[dict[str, Any]], alert_id: str) -> str | None:
    """The ts of the message carrying `alert_id` in its metadata, if the channel has one."""
    for m in messages:
        meta = m.get("metadata") or {}
        if meta.get("event_type") == METADATA_EVENT and (meta.get("event_payload") or {}).get("alert_id") == alert_id:
            return str(m.get("ts"))
    return None


@dataclass(frozen=True, slots=True)
class Reply:
    """One Web API call's result: ok, Slack's error code, whether trying later can help, how long
    Slack asked us to wait, and the response's data."""

    ok: bool
    error: str = ""
    retryable: bool = False
    retry_after_s: float | None = None
    data: dict[str, Any] | None = None
    status: int | None = None


def classify(status: int | None, headers: Any, data: Any, failure: str | None = None) -> Reply:
    """A Web API answer as a Reply (pure)."""
    if failure is not None:
        return Reply(False, failure, True)
    if status == 429:
        try:
            wait = min(float(headers.get("Retry-After", "1")), 3600.0)
        except ValueError:
            wait = 1.0
        return Reply(False, "ratelimited", True, max(wait, 0.0), status=429)
    if status is None or status >= 500:
        return Reply(False, f"HTTP {status}", True, status=status)
    if not isinstance(data, dict):
        return Reply(False, f"HTTP {status}: not a Web API answer", status >= 500, status=status)
    if data.get("ok") is True:
        return Reply(True, data=data, status=status)
    error = str(data.get("error") or f"HTTP {status}")
    return Reply(False, error, error in RETRYABLE_ERRORS, data=data, status=status)


class SlackApp:
    """Web API calls for one worker, paced per channel."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def call(self, session: aiohttp.ClientSession, api_url: str, token: str, method: str,
                   body: dict[str, Any], channel: str) -> Reply:
        async with self._lock:  # one call at a time per worker, at most one a second per channel
            wait = self._last.get(channel, 0.0) + CHANNEL_INTERVAL_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await self._post(session, api_url, token, method, body)
            finally:
                self._last[channel] = time.monotonic()

    async def _post(self, session: aiohttp.ClientSession, api_url: str, token: str, method: str,
                    body: dict[str, Any]) -> Reply:
        headers = {"Authorization": f"Bearer {token}"}
        if method.startswith("conversations."):
            # Slack's read methods take form fields, not JSON
            data: Any = {k: ("true" if v is True else str(v)) for k, v in body.items()}
        else:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            async with session.post(api_url + method, data=data, headers=headers,
                                    allow_redirects=False, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as resp:
                raw = await resp.read()
                try:
                    data = orjson.loads(raw) if raw else None
                except orjson.JSONDecodeError:
                    data = None
                return classify(resp.status, resp.headers, data)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return classify(None, {}, None, type(exc).__name__)

    async def reconcile(self, session: aiohttp.ClientSession, api_url: str, token: str, channel: str,
                        alert: Alert, thread_ts: str | None) -> tuple[Reply, str | None]:
        """Whether a message for `alert` is already in the channel (or the story's thread): its ts,
        or None when it is not there (then it was never posted)."""
        oldest = f"{max(alert.fired_at.timestamp() - HISTORY_WINDOW_S, 0):.6f}"
        if thread_ts:
            body = {"channel": channel, "ts": thread_ts, "include_all_metadata": True, "limit": 200, "oldest": oldest}
            reply = await self.call(session, api_url, token, "conversations.replies", body, channel)
        else:
            body = {"channel": channel, "include_all_metadata": True, "limit": 200, "oldest": oldest}
            reply = await self.call(session, api_url, token, "conversations.history", body, channel)
        if not reply.ok:
            return reply, None
        return reply, found_in((reply.data or {}).get("messages") or [], alert.id)
