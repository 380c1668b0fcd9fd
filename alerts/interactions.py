"""The worker's endpoint for Slack's interactivity requests (POST /slack/interactions): the
editors' buttons on slack-app messages (alerts/feedback.py decides what they mean).

Only Slack's signed requests are taken (v0 signature with WARWIRE_SLACK_SIGNING_SECRET, timestamp
within five minutes); everything else gets 401, and with no signing secret set every request does.
A click is answered 200 only once the broker has it: the action on warwire.feedback and, for a
mute, the silence on warwire.silences (so it shows in `warwire silence list` and every worker
applies it at once). Then the message is edited to show who acted (chat.update with the bot
token of the slack-app receiver posting to that channel).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from alerts import feedback
from alerts.slack_app import SlackApp
from streams import logs
from streams.schema import encode

log = logs.get("warwire.slack")
MAX_BODY = 64 * 1024


class Interactions:
    def __init__(self, secret: str | None, feedback_topic: Any, silences_topic: Any, receivers: Callable[[], dict[str, Any]],
                 slack: SlackApp, http: Callable[[], Any]) -> None:
        self.secret, self.feedback_topic, self.silences_topic = secret, feedback_topic, silences_topic
        self.receivers, self.slack, self.http = receivers, slack, http
        self.pending: set[asyncio.Task[None]] = set()

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.json_response({"ok": False, "error": "request too large"}, status=413)
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return web.json_response({"ok": False, "error": "request too large"}, status=413)
        now = time.time()
        why = ("interactivity is not configured (WARWIRE_SLACK_SIGNING_SECRET is unset)" if not self.secret else
               feedback.verify(self.secret, request.headers.get("X-Slack-Request-Timestamp"),
                               request.headers.get("X-Slack-Signature"), body, now))
        if why is not None:
            log.warning("slack_interaction_refused", reason=why, remote=request.remote)
            return web.json_response({"ok": False, "error": why}, status=401)
        try:
            actions, payload = feedback.parse(body, now)
        except ValueError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        futures = []
        for fb in actions:
            futures.append(await self.feedback_topic.send(key=(fb.story or fb.alert).encode(), value=encode(fb)))
            silence = feedback.silence_for(fb)
            if silence is not None:
                futures.append(await self.silences_topic.send(key=silence.id.encode(), value=encode(silence)))
            log.info("slack_feedback", kind=fb.kind, user=fb.user, story=fb.story, alert=fb.alert)
        try:
            await asyncio.wait_for(asyncio.gather(*futures), 15.0)
        except Exception as exc:  # noqa: BLE001 - Slack shows the editor that it failed; nothing half-done is claimed
            log.error("slack_feedback_not_stored", error=f"{type(exc).__name__}: {exc}")
            return web.json_response({"ok": False, "error": "not stored, try again"}, status=503)
        if actions and isinstance(payload.get("message"), dict):
            task = asyncio.ensure_future(self._show(payload, actions[-1]))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
        return web.Response(status=200)

    async def _show(self, payload: dict[str, Any], fb: feedback.Feedback) -> None:
        """Edit the message to say who did what, as the receiver that posts to that channel."""
        rec = next((r for r in self.receivers().values()
                    if r.type == "slack-app" and r.configured and r.channel == fb.channel), None)
        if rec is None or not fb.message_ts:
            return
        shown = feedback.acted(payload["message"], fb)
        body = {"channel": fb.channel, "ts": fb.message_ts, "text": shown["text"], "blocks": shown["blocks"]}
        reply = await self.slack.call(self.http(), rec.url.reveal(), rec.secret.reveal(), "chat.update", body, fb.channel)
        if not reply.ok:
            log.warning("slack_feedback_not_shown", error=reply.error, channel=fb.channel)
