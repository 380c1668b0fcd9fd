"""A delivery lane's slack-app calls for one batch (alerts/slack_app.py says what a story's
message does): the story's message is read from, and written to, the lane's ledger batch, so it
reaches the changelog with the delivery's own state and a later task of the same batch sees it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from alerts import slack_app
from alerts.delivery import Outcome, Receiver
from alerts.slack_app import REPOST_ERRORS, Reply, SlackApp, StoryMessage
from streams import logs
from streams.schema import DeliveryTask, RecordError, StoryUpdate, decode, encode
from streams.state import StateBatch

log = logs.get("warwire.slack")


def _outcome(reply: Reply, what: str) -> Outcome:
    if reply.ok:
        return Outcome(True, False, what, reply.status)
    return Outcome(False, reply.retryable, f"slack {what}: {reply.error}", reply.status, reply.retry_after_s)


class SlackLane:
    def __init__(self, app: SlackApp, http: Callable[[], Any], state: StateBatch) -> None:
        self.app, self.http, self.state = app, http, state

    def _message(self, partition: int, receiver: str, story: str) -> StoryMessage | None:
        key = slack_app.message_key(receiver, story)
        return slack_app.decode_message(self.state.get_many(partition, [key])[0])

    def _pending(self, partition: int, receiver: str, story: str) -> StoryUpdate | None:
        value = self.state.get_many(partition, [slack_app.pending_key(receiver, story)])[0]
        if not value:
            return None
        try:
            return decode(StoryUpdate, value)
        except RecordError:
            return None

    def _keep(self, partition: int, receiver: str, story: str, message: StoryMessage) -> None:
        self.state.stage(partition, {slack_app.message_key(receiver, story): slack_app.encode_message(message)})

    async def _call(self, rec: Receiver, method: str, body: dict[str, Any], channel: str) -> Reply:
        assert rec.url is not None and rec.secret is not None
        return await self.app.call(self.http(), rec.url.reveal(), rec.secret.reveal(), method, body, channel)

    async def deliver(self, partition: int, rec: Receiver, task: DeliveryTask, reconcile: bool) -> Outcome:
        """One alert: the story's first message, or a thread reply plus an edit of the first.
        `reconcile`: its ledger said `sending` (a worker stopped during this POST)."""
        alert = task.alert
        assert alert is not None
        if rec.secret is None or rec.url is None:
            return Outcome(False, False, "slack-app receiver has no bot token (its token_env variable is unset)")
        story = alert.story or alert.id
        msg = self._message(partition, rec.name, story)
        # A follow-up of a story that has a message here: a reply in that message's thread.
        parent = self._message(partition, rec.name, alert.related_to) if msg is None and alert.related_to else None
        if reconcile:  # did that POST reach the channel (or the thread it went to)?
            near = msg or parent
            thread = (near.thread or near.ts) if near else None
            reply, ts = await self.app.reconcile(self.http(), rec.url.reveal(), rec.secret.reveal(),
                                                 near.channel if near else rec.channel, alert, thread)
            if not reply.ok:
                return _outcome(reply, "conversations.history")
            if ts is not None:
                log.info("slack_reconciled", receiver=rec.name, alert=alert.id, ts=ts)
                if msg is None:
                    self._keep(partition, rec.name, story, StoryMessage(
                        channel=near.channel if near else rec.channel, ts=ts, alert=alert,
                        thread=(parent.thread or parent.ts) if parent else ""))
                return Outcome(True, False, "already in the channel (found by its metadata)")
        if msg is None and parent is not None:
            thread = parent.thread or parent.ts
            reply = await self._call(rec, "chat.postMessage",
                                     slack_app.post_body(alert, parent.channel, thread_ts=thread, first=parent.alert),
                                     parent.channel)
            if reply.ok and reply.data:
                self._keep(partition, rec.name, story, StoryMessage(channel=parent.channel, ts=str(reply.data["ts"]),
                                                                    alert=alert, thread=thread))
            return _outcome(reply, "chat.postMessage (follow-up)")
        if msg is None:
            pending = self._pending(partition, rec.name, story)
            if pending is not None:
                alert = slack_app.with_story(alert, pending)
            reply = await self._call(rec, "chat.postMessage", slack_app.post_body(alert, rec.channel), rec.channel)
            if reply.ok and reply.data:
                self._keep(partition, rec.name, story, StoryMessage(
                    channel=str(reply.data.get("channel") or rec.channel), ts=str(reply.data["ts"]), alert=alert))
            return _outcome(reply, "chat.postMessage")
        reply = await self._call(rec, "chat.postMessage", slack_app.post_body(
            alert, msg.channel, thread_ts=msg.thread or msg.ts, first=msg.alert), msg.channel)
        if not reply.ok:
            return _outcome(reply, "chat.postMessage (thread)")
        await self._edit(partition, rec, story, msgspec.structs.replace(msg, alert=slack_app.merged(msg.alert, alert)))
        return _outcome(reply, "chat.postMessage (thread)")

    async def story_update(self, partition: int, rec: Receiver, task: DeliveryTask) -> Outcome | None:
        """Outlets joined a story: edit its message, if this receiver has one and it changed."""
        update = task.story
        assert update is not None
        msg = self._message(partition, rec.name, update.story)
        if msg is None:
            # Its alert has not been delivered yet (or never will be here): keep the latest
            # state, which the first message then shows.
            known = self._pending(partition, rec.name, update.story)
            if known is None or update.outlets >= known.outlets:
                self.state.stage(partition, {slack_app.pending_key(rec.name, update.story): encode(update)})
            return None
        alert = slack_app.with_story(msg.alert, update)
        if alert == msg.alert:
            return None
        return await self._edit(partition, rec, update.story, msgspec.structs.replace(msg, alert=alert))

    async def _edit(self, partition: int, rec: Receiver, story: str, new: StoryMessage) -> Outcome:
        reply = await self._call(rec, "chat.update", slack_app.update_body(new), new.channel)
        if not reply.ok and reply.error in REPOST_ERRORS:
            # Slack will not edit it any more: post the story anew and keep the new message.
            log.info("slack_reposted", receiver=rec.name, story=story, reason=reply.error)
            reply = await self._call(rec, "chat.postMessage", slack_app.post_body(new.alert, new.channel), new.channel)
            if reply.ok and reply.data:
                new = msgspec.structs.replace(new, ts=str(reply.data["ts"]))
        if reply.ok:
            self._keep(partition, rec.name, story, new)
        else:
            log.warning("slack_update_failed", receiver=rec.name, story=story, error=reply.error)
        return _outcome(reply, "chat.update")
