"""What every agent of the worker does the same way around its batches: dead letters, waiting for
the broker before faust may ack, ending the worker uncommitted on a failure, and checking that
no offset was skipped. Built per worker by the composition root (streams/wiring.py); importing
this module creates nothing.

No exception escapes an agent: faust would ack the message and lose it (shared FAUST-NOTES.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from streams import logs
from streams.metrics import PipelineMetrics
from streams.schema import DeadLetter, RecordError, encode, utcnow

log = logs.get("warwire.worker")

BATCH_MAX = 500        # events per agent iteration
BATCH_WAIT_S = 0.01   # how long an iteration waits for more events before it works on what it has
RECOVERY_POLL_S = 0.05  # how often a batch handed over during table recovery looks whether it ended

# A letter keeps the whole failed record up to this size, so that `warwire alerts dlq replay` can
# publish it again (a larger one, cut, stays a letter to read): far below the 1 MB record limit.
MAX_LETTER_VALUE = 200_000


def abort(stage: str, reason: str) -> None:
    log.critical("worker_exiting_uncommitted", stage=stage, reason=reason,
                 hint="its uncommitted events are processed again at the next start")
    logging.shutdown()
    os._exit(70)


async def confirm(stage: str, futures: list[Any]) -> None:
    """Wait until the broker has every record a batch produced; only then may faust ack (and
    later commit) the batch's events. A send the producer gave up on (after its own retries) or
    a stop that comes before the broker answered would let faust commit events whose output is
    missing, so the worker exits at once without committing: their events are processed again
    at the next start, and stage 2 recognises what it already decided."""
    if not futures:
        return
    try:
        await asyncio.shield(asyncio.gather(*futures))
    except asyncio.CancelledError:
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.gather(*futures)), 15.0)
        except Exception:  # noqa: BLE001
            abort(stage, "stopped before the broker confirmed a batch's output")
        raise
    except Exception as exc:  # noqa: BLE001
        abort(stage, f"the broker did not take a batch's output: {type(exc).__name__}: {exc}")


@contextlib.asynccontextmanager
async def uncommitted_on_failure(stage: str) -> AsyncIterator[None]:
    """Every agent handles a batch inside this. An exception that reaches it (a dead-letter send
    that failed inside an except-handler, the batch's own records, the state commit) would
    otherwise escape the agent, and faust would ack the batch and commit past it: the worker
    exits instead, and its next start reads the batch again (every stage is idempotent)."""
    try:
        yield
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - the one place a batch's failure may end up
        log.exception("batch_failed", stage=stage)
        abort(stage, f"{type(exc).__name__}: {exc}")


class Rebalances:
    """How many times this worker's partitions were assigned (bumped by faust's signal)."""

    def __init__(self) -> None:
        self.generation = 0

    async def on_assigned(self, app: Any, assigned: Any, **kwargs: Any) -> None:
        self.generation += 1


class Continuity:
    """Checks that an agent sees every offset of its partitions in order. A record after a
    missing offset means faust skipped records (faust #221: a record prefetched before a
    rebalance, delivered after the seek back; and, until streams.app.FlowControl, stream queues
    emptied by a recovery step while the streams ran); the worker then exits before that record
    is acknowledged, and its next start reads again from the committed offset. Earlier offsets
    again (a redelivery after a rebalance) are fine: every stage is idempotent."""

    def __init__(self, stage: str, rebalances: Rebalances, committed: Callable[[], dict[Any, int]],
                 in_recovery: Callable[[], bool] = lambda: False) -> None:
        self.stage, self.rebalances, self.committed, self.in_recovery = stage, rebalances, committed, in_recovery
        self.next: dict[Any, int] = {}
        self.seen_generation = -1

    async def admit(self, events: Any) -> None:
        """Waits while faust recovers the tables from their changelogs, then checks the batch's
        offsets. faust hands over the records it fetched before it paused the source partitions as
        soon as recovery first resumes flow, before the changelogs are read: a stage reading its
        table then would miss the changelog's tail (a ledger's `delivered`, so the POST went out
        again; a story's last outlets)."""
        while self.in_recovery():
            await asyncio.sleep(RECOVERY_POLL_S)
        self.check(events)

    def check(self, events: Any) -> None:
        if self.seen_generation != self.rebalances.generation:
            self.next.clear()
            self.seen_generation = self.rebalances.generation
        committed = self.committed()
        for event in events:
            tp, offset = event.message.tp, event.message.offset
            expected = self.next.get(tp)
            if expected is None:
                expected = committed.get(tp)
            if expected is not None and offset > expected:
                abort(self.stage, f"faust skipped offsets {expected} to {offset - 1} of {tp.topic}[{tp.partition}]")
            self.next[tp] = max(expected or 0, offset + 1)


class DeadLetters:
    """Sends what a stage cannot process to warwire.dlq, with the reason, and counts it."""

    def __init__(self, topic: Any, metrics: PipelineMetrics) -> None:
        self.topic, self.metrics = topic, metrics

    def letter(self, stage: str, msg: Any, reason: str, value: bytes | None = None) -> DeadLetter:
        """A dead letter for `msg`: a faust event's message or an aiokafka ConsumerRecord; `value`:
        what failed when it is less than the whole record (one item of a batch record)."""
        if value is None:
            value = msg.value if isinstance(msg.value, bytes) else b""
        self.metrics.dead_letters.labels(stage).inc()
        log.warning("dead_lettered", stage=stage, reason=reason, topic=msg.topic,
                    partition=msg.partition, offset=msg.offset)
        return DeadLetter(reason=reason, stage=stage, topic=msg.topic, partition=msg.partition,
                          offset=msg.offset, value=value[:MAX_LETTER_VALUE].decode("utf-8", "replace"), at=utcnow())

    async def send(self, key: bytes | None, letter: DeadLetter) -> Any:
        return await self.topic.send(key=key, value=encode(letter))

    async def of_record(self, stage: str, msg: Any, reason: str) -> Any:
        return await self.send(msg.key if isinstance(msg.key, bytes) else None, self.letter(stage, msg, reason))

    async def each(self, stage: str, events: Any, handle: Callable[[Any], Awaitable[list[Any]]]) -> list[Any]:
        """Run `handle` on every event of a batch; it returns the send futures it started. A bad
        record or a failing handler sends that event to the DLQ; the others go on."""
        futures: list[Any] = []
        for event in events:
            try:
                futures.extend(await handle(event))
            except RecordError as exc:
                futures.append(await self.of_record(stage, event.message, str(exc)))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an escaping exception would lose the message
                log.exception("stage_failed", stage=stage)
                futures.append(await self.of_record(stage, event.message, f"{type(exc).__name__}: {exc}"))
        return futures
