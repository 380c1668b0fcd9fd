"""Delivery agents, registered on a worker by `register` (called by the composition root,
streams/wiring.py): thin shells around alerts.delivery.

  warwire.alerts ──deliver──▶ warwire.deliveries ──┬─ lane agent for receiver A ──▶ A
   (one task per alert and HTTP receiver;           ├─ lane agent for receiver B ──▶ B
    the console is printed at once; a digest        └─ console lane: any receiver without a lane
    rule's alerts go to the aggregate stage)           of its own (added by a later reload)

Every lane agent reads every task and acts only on its own receiver's. faust gives each agent
its own buffer and commits an offset only when all of them are done with it, so a slow or dead
receiver holds up its own lane (up to the 4,096 buffered tasks) and no other. A lane works
through its tasks in small batches, up to LANE_CONCURRENCY requests at once. A retry (or any task
not yet due) waits in a retry tier (warwire.retry.<n>s, RETRY_TIERS_S): the tier's agent holds its
head record until it has waited the tier's delay, then hands it on to the deliveries topic when it
is due, or to the tier that fits what is left; so a task is rewritten a few times per long wait,
not once a second, and a receiver that asks for an hour does not keep its lane busy. Lanes exist
for the receivers configured when the worker starts with their URL set; receivers added or
configured later share the console lane until the next restart.

Ledger (`delivered`, a BatchTable on the deliveries partitions: streams/state.py): before a POST
the state `sending` is on the broker (its changelog record confirmed, then stored locally); after
it, `delivered`, `retrying` or `failed`. A task read again after a crash finds that state:
delivered → skipped; sending → re-sent to webhooks (same Idempotency-Key, which the receiver can
drop) but not to Slack, which cannot drop a copy (counted as ambiguous). Local state never runs
ahead of the changelog, so a restarted worker never believes in a POST its changelog lacks.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import msgspec

from alerts import delivery
from alerts.interactions import Interactions
from alerts.slack_app import SlackApp
from alerts.slack_lane import SlackLane
from streams.runtime import Worker
from streams.schema import RETRY_TIERS_S, Alert, AlertBatch, DeadLetter, DeliveryTask, RuleEvent, decode, encode, utcnow
from streams.shell import BATCH_MAX, BATCH_WAIT_S, confirm, log, uncommitted_on_failure
from streams.state import StateBatch

LANE_BATCH = 16
LANE_CONCURRENCY = 8
# A batch whose tasks are all not yet due waits at most this long (a rebalance waits for it);
# tasks not due by then go back to the end of their lane.
MAX_WAIT_S = 1.0
# When tasks are due and how the retry tiers wait: the wall clock (tests move their own).
clock = time.time
pause = asyncio.sleep


def next_attempt(task: DeliveryTask, outcome: delivery.Outcome) -> DeliveryTask:
    """The task again, one attempt on, due after the backoff (or the receiver's Retry-After)."""
    wait_s = delivery.backoff_s(task.attempt, outcome.retry_after_s)
    return msgspec.structs.replace(task, attempt=task.attempt + 1, not_before=clock() + wait_s,
                                   last_error=outcome.reason)


def task_key(task: DeliveryTask) -> bytes:
    """A task's record key: the story it follows up, else its story, so that every task of a
    story and of its follow-ups, and a slack-app receiver's messages for them (in the ledger),
    share one partition; an alert without a story, its id."""
    if task.story is not None:
        return (task.story.related_to or task.story.story).encode()
    assert task.alert is not None
    return (task.alert.related_to or task.alert.story or task.alert.id).encode()


class Delivery:
    """A worker's way out: the fan-out of alerts into delivery tasks, the console, dead letters
    of alerts, and the HTTP session every lane shares."""

    def __init__(self, w: Worker) -> None:
        self.w = w
        self._session: aiohttp.ClientSession | None = None
        self.slack = SlackApp()

    def http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def fan_out(self, event: Any) -> list[Any]:
        """Every alert of an AlertBatch record; one that fails is dead-lettered on its own (its value
        is that alert, so `warwire alerts dlq replay` can send it again) and the others go on."""
        batch = decode(AlertBatch, event.value)
        now = clock()
        futures: list[Any] = []
        for alert in batch.alerts:
            try:
                futures.extend(await self._fan_out_one(alert, now))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one alert must not cost its batch
                log.exception("stage_failed", stage="deliver", alert=alert.id)
                futures.append(await self.dead_letter_alert(alert, f"fan-out failed: {type(exc).__name__}: {exc}"))
        return futures

    async def dead_letter_alert(self, alert: Alert, reason: str) -> Any:
        """The DLQ record of an alert that cannot be delivered; its value is the alert itself, which
        `warwire alerts dlq replay` publishes again."""
        letter = DeadLetter(reason=reason, stage="deliver", topic=self.w.topics.alerts.get_topic_name(),
                            value=encode(alert).decode(), at=utcnow())
        self.w.metrics.dead_letters.labels("deliver").inc()
        return await self.w.letters.send(alert.id.encode(), letter)

    async def _fan_out_one(self, alert: Alert, now: float) -> list[Any]:
        rule = self.w.config.rules.get(alert.rule)
        if rule is not None and rule.spec.digest:
            # Its rule sends digests: the alert joins its group in the aggregate stage.
            ev = RuleEvent(kind="digest", rule=alert.rule, at=now, alert=alert, **rule.as_sent())
            return [await self.w.topics.rule_events.send(key=alert.rule.encode(), value=encode(ev))]
        return await self.tasks(alert, now)

    async def tasks(self, alert: Alert, now: float) -> list[Any]:
        """A delivery task per HTTP receiver; the console is printed here and now (it has no side
        effect to protect and cannot fail, so it needs neither a lane nor a ledger)."""
        futures = []
        m = self.w.metrics
        for r in alert.receivers:
            rec = self.w.config.receivers.get(r)
            if rec is not None and rec.type == "console":
                await delivery.send(self.http(), rec, alert)
                m.deliveries.labels(r, "ok").inc()
                m.delivery_latency.labels(r).observe(max(0.0, now - alert.fired_at.timestamp()))
                continue
            task = DeliveryTask(alert=alert, receiver=r, attempt=1, not_before=now)
            futures.append(await self.w.topics.deliveries.send(key=task_key(task), value=encode(task)))
        return futures

    async def reschedule(self, task: DeliveryTask) -> Any:
        """Send a task to its lane if it is due within MAX_WAIT_S, else to the retry tier that
        fits its wait (delivery.retry_tier)."""
        tier = delivery.retry_tier(task.not_before - clock(), RETRY_TIERS_S, MAX_WAIT_S)
        topic = self.w.topics.deliveries if tier is None else self.w.topics.retries[tier]
        return await topic.send(key=task_key(task), value=encode(task))

    async def hold(self, tier: int, events: Any) -> list[Any]:
        """A retry tier's batch, in order: each task waits until it has been in the tier for
        `tier` seconds (its record's timestamp) or is due, whichever comes first, then goes on
        (`reschedule`). Records of a tier arrive in the order they are due, so the head waits and
        the rest follow."""
        futures: list[Any] = []
        for event in events:
            try:
                task = decode(DeliveryTask, event.value)
            except Exception as exc:  # noqa: BLE001 - a bad task is dead-lettered, the rest go on
                letters = self.w.letters
                futures.append(await letters.send(None, letters.letter(f"retry {tier}s", event.message, str(exc))))
                continue
            wake = min(event.message.timestamp + tier, task.not_before)
            if wake > clock():
                await pause(wake - clock())
            futures.append(await self.reschedule(task))
        return futures


class Lane:
    """One batch of one lane's tasks: ledger, requests, outcomes."""

    def __init__(self, out: Delivery, owns: Callable[[str], bool]) -> None:
        self.out, self.w, self.owns = out, out.w, owns
        self.state = StateBatch(out.w.tables.delivered)
        self.futures: list[Any] = []

    async def run(self, events: Any) -> None:
        tasks = []
        for event in events:
            try:
                task = decode(DeliveryTask, event.value)
            except Exception as exc:  # noqa: BLE001 - a bad task is dead-lettered, the rest go on
                self.futures.append(await self.w.letters.send(None, self.w.letters.letter("attempt", event.message, str(exc))))
                continue
            if self.owns(task.receiver):
                tasks.append((event.message.partition, task))
        if not tasks:
            return await confirm("attempt", self.futures)
        waited = await self._wait_for_due(tasks)
        story_updates = [(p, t) for p, t in waited if t.alert is None]
        due, repeats = delivery.first_of_each([(p, t) for p, t in waited if t.alert is not None],
                                              lambda t: delivery.idempotency_key(t.alert.id, t.receiver))
        if repeats:
            self.w.metrics.suppressed.labels("*", "repeated_in_batch").inc(repeats)
        todo = []
        for partition, task in due:
            rec = self.w.config.receivers.get(task.receiver) or delivery.Receiver(task.receiver, "console")
            if rec.type == "console":
                # A terminal has no side effect to protect: no ledger (a crash may print twice).
                await delivery.send(self.out.http(), rec, task.alert)
                self._delivered(task)
                continue
            key = delivery.idempotency_key(task.alert.id, task.receiver)
            action = delivery.on_ledger(self.state.get_many(partition, [key])[0], rec.type, task.alert.replayed)
            if action == "skip":
                self.w.metrics.suppressed.labels(task.alert.rule, "already_delivered").inc()
            elif action == "reconcile":
                # A slack-app: the channel's history says whether the POST arrived (its metadata
                # carries the alert id); posted only if it did not.
                todo.append((partition, key, rec, task, True))
            elif action == "ambiguous":
                # Never re-sent by itself (the receiver cannot drop a copy), never skipped either:
                # dead-lettered, so that `warwire alerts dlq replay` sends it once an operator has
                # checked the channel (a replayed alert is attempted over an ambiguous ledger).
                self._stage(partition, key, delivery.AMBIGUOUS)
                self.w.metrics.deliveries.labels(task.receiver, "ambiguous").inc()
                log.warning("delivery_ambiguous", receiver=task.receiver, alert=task.alert.id,
                            reason="a worker stopped during the POST; dead-lettered, not re-sent by itself")
                self.futures.append(await self.out.dead_letter_alert(
                    task.alert, f"ambiguous: a worker stopped during the POST to {task.receiver}, which cannot "
                                "drop a copy; check the channel, then `warwire alerts dlq replay` sends it"))
            else:
                self._stage(partition, key, delivery.SENDING)
                todo.append((partition, key, rec, task, False))
        # `sending` is on the broker, and stored, before any request leaves.
        await confirm("attempt", self.futures)
        self.state.commit()
        self.futures = []
        limit = asyncio.Semaphore(LANE_CONCURRENCY)

        slack = SlackLane(self.out.slack, self.out.http, self.state)

        async def attempt(rec: delivery.Receiver, task: DeliveryTask) -> delivery.Outcome:
            async with limit:
                return await delivery.send(self.out.http(), rec, task.alert)

        async def in_order() -> list[delivery.Outcome]:
            # A slack-app's tasks one after another: a story's second alert must see the message
            # its first one posted (and SlackApp.call paces them per channel).
            return [await slack.deliver(p, rec, task, reconcile) for p, _, rec, task, reconcile in todo
                    if rec.type == "slack-app"]

        slack_outcomes, *http_outcomes = await asyncio.gather(
            in_order(), *(attempt(rec, task) for _, _, rec, task, _ in todo if rec.type != "slack-app"))
        by_slack, by_http = iter(slack_outcomes), iter(http_outcomes)
        outcomes = [next(by_slack) if rec.type == "slack-app" else next(by_http) for _, _, rec, _, _ in todo]
        for (partition, key, _, task, _), outcome in zip(todo, outcomes, strict=True):
            await self._after(partition, key, task, outcome)
        for partition, task in story_updates:  # after the batch's alerts: their messages exist now
            rec = self.w.config.receivers.get(task.receiver)
            if rec is None or rec.type != "slack-app" or not rec.configured:
                continue
            outcome = await slack.story_update(partition, rec, task)
            self.futures.extend(self.state.send(partition, f"story:{task.receiver}".encode()))
            if outcome is not None and not outcome.ok and outcome.retryable and task.attempt < delivery.MAX_ATTEMPTS:
                self.futures.append(await self.out.reschedule(next_attempt(task, outcome)))
        await confirm("attempt", self.futures)
        self.state.commit()

    async def _wait_for_due(self, tasks: list[tuple[int, DeliveryTask]]) -> list[tuple[int, DeliveryTask]]:
        now = clock()
        due = [(p, t) for p, t in tasks if t.not_before <= now]
        if not due:
            await pause(min(MAX_WAIT_S, min(t.not_before for _, t in tasks) - now))
            now = clock()
            due = [(p, t) for p, t in tasks if t.not_before <= now]
        for _, t in tasks:
            if t.not_before > now:  # to the end of the lane, or to a retry tier
                self.futures.append(await self.out.reschedule(t))
        return due

    def _stage(self, partition: int, key: str, state: bytes) -> None:
        self.state.stage(partition, {key: state})
        self.futures.extend(self.state.send(partition, key.encode()))

    def _delivered(self, task: DeliveryTask) -> None:
        self.w.metrics.deliveries.labels(task.receiver, "ok").inc()
        self.w.metrics.delivery_latency.labels(task.receiver).observe(max(0.0, clock() - task.alert.fired_at.timestamp()))

    async def _after(self, partition: int, key: str, task: DeliveryTask, outcome: delivery.Outcome) -> None:
        alert, name, metrics = task.alert, task.receiver, self.w.metrics
        metrics.deliveries.labels(name, "ok" if outcome.ok else ("retry" if outcome.retryable else "failed")).inc()
        if outcome.ok:
            self._stage(partition, key, delivery.DELIVERED)
            metrics.delivery_latency.labels(name).observe(max(0.0, clock() - alert.fired_at.timestamp()))
            log.info("delivered", receiver=name, alert=alert.id, rule=alert.rule, attempt=task.attempt)
            return
        if outcome.retryable and task.attempt < delivery.MAX_ATTEMPTS:
            self._stage(partition, key, delivery.RETRYING)
            retry = next_attempt(task, outcome)
            log.warning("delivery_retry", receiver=name, alert=alert.id, attempt=task.attempt,
                        reason=outcome.reason, retry_in_s=round(retry.not_before - clock(), 2))
            self.futures.append(await self.out.reschedule(retry))
            return
        self._stage(partition, key, delivery.FAILED)
        log.error("delivery_dead_lettered", receiver=name, alert=alert.id, reason=outcome.reason)
        self.futures.append(await self.out.dead_letter_alert(
            alert, f"delivery to {name} failed after {task.attempt} attempt(s): {outcome.reason}"))


async def lane_batch(out: Delivery, events: Any, owns: Callable[[str], bool]) -> None:
    try:
        await Lane(out, owns).run(events)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - an escaping exception would lose the batch's tasks
        log.exception("stage_failed", stage="attempt")
        futures = []
        for event in events:
            try:
                task = decode(DeliveryTask, event.value)
            except Exception:  # noqa: BLE001 - dead-lettered by the batch itself
                continue
            if owns(task.receiver) and task.alert is not None:
                futures.append(await out.dead_letter_alert(
                    task.alert, f"delivery to {task.receiver} failed: {type(exc).__name__}: {exc}"))
        await confirm("attempt", futures)


def register(w: Worker) -> Delivery:
    """The fan-out agent over warwire.alerts, one lane agent per HTTP receiver configured at
    start, the console lane (the console and every receiver without a lane of its own, added or
    configured by a later reload), and the task that closes the HTTP session on stop."""
    out = w.parts["delivery"] = Delivery(w)

    async def deliver(stream: Any) -> None:
        continuity = w.continuity("deliver")
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WAIT_S):
            async with uncommitted_on_failure("deliver"):
                await continuity.admit(events)
                await confirm("deliver", await w.letters.each("deliver", events, out.fan_out))

    w.agents["deliver"] = w.app.agent(w.topics.alerts, name="warwire.deliver", concurrency=1)(deliver)

    def add_lane(name: str, owns: Callable[[str], bool]) -> None:
        async def lane(stream: Any) -> None:
            continuity = w.continuity(f"lane {name}")
            async for events in stream.take_events(LANE_BATCH, within=0.005):
                async with uncommitted_on_failure(f"lane {name}"):
                    await continuity.admit(events)
                    await lane_batch(out, events, owns)

        lane.__name__ = lane.__qualname__ = f"lane_{name.replace('-', '_')}"
        w.agents[f"lane {name}"] = w.app.agent(w.topics.deliveries, name=f"warwire.deliver.lane.{name}",
                                               concurrency=1)(lane)

    lanes = frozenset(n for n, r in w.config.receivers.items() if r.configured and r.type != "console")
    for name in sorted(lanes):
        add_lane(name, lambda receiver, mine=name: receiver == mine)
    add_lane("console", lambda receiver: receiver not in lanes)

    def add_tier(tier: int) -> None:
        async def hold(stream: Any) -> None:
            continuity = w.continuity(f"retry {tier}s")
            async for events in stream.take_events(LANE_BATCH, within=0.005):
                async with uncommitted_on_failure(f"retry {tier}s"):
                    await continuity.admit(events)
                    await confirm(f"retry {tier}s", await out.hold(tier, events))

        hold.__name__ = hold.__qualname__ = f"hold_{tier}s"
        w.agents[f"retry {tier}s"] = w.app.agent(w.topics.retries[tier], name=f"warwire.deliver.retry.{tier}s",
                                                 concurrency=1)(hold)

    for tier in RETRY_TIERS_S:
        add_tier(tier)

    async def close_http_on_stop() -> None:
        """Waits until the worker stops, then closes the delivery HTTP session."""
        try:
            await asyncio.Event().wait()
        finally:
            await out.close()

    w.agents["close_http_on_stop"] = w.app.task(close_http_on_stop)
    # Editors' buttons on slack-app messages come back here (alerts/interactions.py).
    clicks = Interactions(os.environ.get("WARWIRE_SLACK_SIGNING_SECRET") or None, w.topics.feedback, w.topics.silences,
                          lambda: w.config.receivers, out.slack, out.http)
    w.parts["routes"] = [*w.parts.get("routes", ()), ("POST", "/slack/interactions", clicks.handle)]
    return out
