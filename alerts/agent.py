"""Delivery agents: thin shells around alerts.delivery.

  warwire.alerts ──deliver──▶ warwire.deliveries ──┬─ lane agent for receiver A ──▶ A
   (one task per alert and receiver)                ├─ lane agent for receiver B ──▶ B
                                                    └─ console lane: the console, and any receiver
                                                       without a lane of its own

Every lane agent reads every task and acts only on its own receiver's. faust gives each agent
its own buffer and commits an offset only when all of them are done with it, so a slow or dead
receiver holds up its own lane (up to the 4,096 buffered tasks) and no other. Retries go back on
the deliveries topic with their due time. Lanes exist for the receivers configured when the worker
starts with their URL set (and the console); receivers added or configured later share the catch-all
lane until the next restart.

Ledger (`delivered` table, on the deliveries partitions): before each POST the state `sending` is
written and flushed to the changelog; after it, `delivered`, `retrying` or `failed`. A task read
again after a crash finds that state: delivered → skipped; sending → re-sent to webhooks (same
Idempotency-Key) but not to Slack, which cannot drop a copy (counted as ambiguous).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from alerts import delivery
from streams.agents import BATCH_MAX, BATCH_WAIT_S, _each, _guarded, config, confirm, log, metrics
from streams.app import alerts_topic, app, delivered, deliveries_topic, dlq_topic
from streams.schema import Alert, DeadLetter, DeliveryTask, decode, encode, utcnow

# A task that is not due yet waits at most this long in the agent (a rebalance waits for it),
# then goes back to the end of its lane.
MAX_WAIT_S = 2.0
_session: aiohttp.ClientSession | None = None


def _http() -> aiohttp.ClientSession:
    global _session
    if _session is None or _session.closed:
        _session = aiohttp.ClientSession()
    return _session


async def _enqueue(task: DeliveryTask) -> None:
    fut = await deliveries_topic.send(key=task.alert.id.encode(), value=encode(task))
    await fut


async def _fan_out(event: Any) -> list[Any]:
    alert = decode(Alert, event.value)
    now = time.time()
    return [await deliveries_topic.send(key=alert.id.encode(),
                                        value=encode(DeliveryTask(alert=alert, receiver=r, attempt=1, not_before=now)))
            for r in alert.receivers]


async def _attempt(event: Any, owns: Callable[[str], bool]) -> None:
    task = decode(DeliveryTask, event.value)
    if not owns(task.receiver):
        return
    alert, name = task.alert, task.receiver
    key = delivery.idempotency_key(alert.id, name).encode()
    rec = config.receivers.get(name) or delivery.Receiver(name, "console")
    if rec.type == "console":
        # A terminal has no side effect to protect: no ledger, no flush (a crash may print twice).
        await delivery.send(_http(), rec, alert)
        metrics.deliveries.labels(name, "ok").inc()
        metrics.delivery_latency.labels(name).observe(max(0.0, time.time() - alert.fired_at.timestamp()))
        return
    action = delivery.on_ledger(delivered.get(key), rec.type)
    if action == "skip":
        metrics.suppressed.labels(alert.rule, "already_delivered").inc()
        return
    if action == "ambiguous":
        delivered[key] = delivery.AMBIGUOUS
        metrics.deliveries.labels(name, "ambiguous").inc()
        log.warning("delivery_ambiguous", receiver=name, alert=alert.id,
                    reason="a worker stopped during the POST; not re-sent to a receiver that cannot dedupe")
        return
    wait = task.not_before - time.time()
    if wait > 0:
        await asyncio.sleep(min(wait, MAX_WAIT_S))
        if task.not_before > time.time():
            await _enqueue(task)
            return
    delivered[key] = delivery.SENDING
    await app.producer.flush()  # `sending` is on the broker before the POST leaves
    outcome = await delivery.send(_http(), rec, alert)
    result = "ok" if outcome.ok else ("retry" if outcome.retryable else "failed")
    metrics.deliveries.labels(name, result).inc()
    if outcome.ok:
        delivered[key] = delivery.DELIVERED
        metrics.delivery_latency.labels(name).observe(max(0.0, time.time() - alert.fired_at.timestamp()))
        log.info("delivered", receiver=name, alert=alert.id, rule=alert.rule, attempt=task.attempt)
        return
    if outcome.retryable and task.attempt < delivery.MAX_ATTEMPTS:
        delivered[key] = delivery.RETRYING
        wait_s = delivery.backoff_s(task.attempt, outcome.retry_after_s)
        log.warning("delivery_retry", receiver=name, alert=alert.id, attempt=task.attempt,
                    reason=outcome.reason, retry_in_s=round(wait_s, 2))
        await _enqueue(DeliveryTask(alert=alert, receiver=name, attempt=task.attempt + 1,
                                    not_before=time.time() + wait_s, last_error=outcome.reason))
        return
    delivered[key] = delivery.FAILED
    letter = DeadLetter(reason=f"delivery to {name} failed after {task.attempt} attempt(s): {outcome.reason}",
                        stage="deliver", topic=alerts_topic.get_topic_name(), value=encode(alert).decode(),
                        at=utcnow())
    metrics.dead_letters.labels("deliver").inc()
    log.error("delivery_dead_lettered", receiver=name, alert=alert.id, reason=outcome.reason)
    fut = await dlq_topic.send(key=alert.id.encode(), value=encode(letter))
    await fut


@app.agent(alerts_topic, concurrency=1)
async def deliver(stream: Any) -> None:
    async for events in stream.take_events(BATCH_MAX, within=BATCH_WAIT_S):
        await confirm("deliver", await _each("deliver", events, _fan_out))


def _lane(name: str, owns: Callable[[str], bool]) -> None:
    async def lane(stream: Any) -> None:
        async for event in stream.events():
            await _guarded("attempt", event, lambda e: _attempt(e, owns))

    lane.__name__ = lane.__qualname__ = f"lane_{name.replace('-', '_')}"
    app.agent(deliveries_topic, name=f"warwire.deliver.lane.{name}", concurrency=1)(lane)


# One lane per HTTP receiver configured at start; the console lane takes the console and every
# receiver without a lane of its own (added or configured by a later reload).
_LANES = frozenset(n for n, r in config.receivers.items() if r.configured and r.type != "console")
for _name in sorted(_LANES):
    _lane(_name, lambda receiver, mine=_name: receiver == mine)
_lane("console", lambda receiver: receiver not in _LANES)


@app.task
async def close_http_on_stop() -> None:
    """Waits until the worker stops, then closes the delivery HTTP session."""
    try:
        await asyncio.Event().wait()
    finally:
        if _session is not None and not _session.closed:
            await _session.close()
