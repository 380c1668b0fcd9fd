"""The worker's agents: thin shells that move records and state; every decision is in core code.

  warwire.raw ──analyze──▶ warwire.analyzed ──decide──▶ warwire.alerts ──(alerts/agent.py)
  (by item id:  tag,        (by language: dedupe,
   fingerprint)              stories, rules)
  anything that cannot be processed ──▶ warwire.dlq (with the reason)

No exception escapes an agent: faust would ack the message and lose it (shared FAUST-NOTES.md).
Each agent runs with concurrency=1 (faust #606) and scales with partitions and workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

from alerts import delivery, silence_store
from alerts.engine import RuleSet, compile_rules
from alerts.loader import load_rules, rule_files
from alerts.silences import Silence
from streams import logs
from streams.analyzers import AnalyzerPool
from streams.app import (
    WORKER_ID,
    LagMonitor,
    alerts_topic,
    analyzed_topic,
    app,
    dedupe_state,
    dlq_topic,
    raw_topic,
    rule_events_topic,
    settings,
    stories_topic,
)
from streams.core.pipeline import decide
from streams.core.profiles import background
from streams.core.spec import SpecError
from streams.core.tagging import Taxonomy, compile_taxonomy, load_taxonomy
from streams.core.text import LANGUAGES
from streams.http import serve
from streams.intake import RawIntake
from streams.metrics import PipelineMetrics
from streams.schema import (
    Alert,
    AnalyzedBatch,
    AnalyzedItem,
    DeadLetter,
    RecordError,
    RuleEvent,
    RuleItem,
    alert_records,
    decode,
    encode,
    utcnow,
)
from streams.state import StateBatch
from streams.topics import BrokerProbe

log = logs.get("warwire.worker")


metrics = PipelineMetrics(CollectorRegistry())
ProcessCollector(registry=metrics.registry)
PlatformCollector(registry=metrics.registry)
app.monitor = LagMonitor(metrics.registry)


class Config:
    """The active taxonomy, rules and receivers; replaced only by a load that succeeds."""

    def __init__(self) -> None:
        self.taxonomy: Taxonomy = compile_taxonomy(load_taxonomy(settings.taxonomy))
        self.receivers = delivery.resolve_receivers({})
        self.rules: RuleSet = self._load_rules()
        self._mtimes = self._stat()
        self.silences: list[Silence] = []
        metrics.config_version.labels("taxonomy", self.taxonomy.version).set(1)
        metrics.config_version.labels("rules", self.rules.version).set(1)
        metrics.last_reload_ok.labels("taxonomy").set(1)
        metrics.last_reload_ok.labels("rules").set(1)

    def _load_rules(self) -> RuleSet:
        spec = load_rules(list(settings.rules), self.taxonomy.spec.topic_ids)
        self.receivers = delivery.resolve_receivers(spec.receivers)
        for name, r in self.receivers.items():
            if not r.configured:
                log.warning("receiver_unconfigured", receiver=name, variable=spec.receivers[name].url_env,
                            hint="set its url_env variable to deliver there; its alerts go to the console")
            if r.type == "webhook" and r.secret is None:
                log.warning("receiver_unsigned", receiver=name, variable=spec.receivers[name].secret_env,
                            hint="its requests go out without X-Warwire-Signature: set secret_env and the variable "
                                 "so that the receiver can verify them")
        return compile_rules(spec, {n: r.configured for n, r in self.receivers.items()})

    def _stat(self) -> dict[Path, float]:
        files = [settings.taxonomy, *rule_files(list(settings.rules))]
        return {f: f.stat().st_mtime for f in files if f.exists()}

    def reload_if_changed(self) -> None:
        """Reload the taxonomy and the rules when a file changed. Each is replaced only by a
        version that loads; a broken edit is logged, counted, and the active version stays."""
        now = self._stat()
        if now == self._mtimes:
            return
        self._mtimes = now
        tax = self._reload("taxonomy", lambda: compile_taxonomy(load_taxonomy(settings.taxonomy)),
                           self.taxonomy.version)
        if tax is not None:
            self.taxonomy = tax
        rules = self._reload("rules", self._load_rules, self.rules.version)
        if rules is not None:
            self.rules = rules

    def _reload(self, kind: str, load: Callable[[], Any], active: str) -> Any:
        try:
            new = load()
        except SpecError as exc:
            metrics.reloads.labels(kind, "error").inc()
            metrics.last_reload_ok.labels(kind).set(0)
            log.error(f"{kind}_reload_rejected", errors=[str(i) for i in exc.issues], active_version=active)
            return None
        metrics.last_reload_ok.labels(kind).set(1)
        if new.version == active:
            return None
        metrics.config_version.labels(kind, active).set(0)
        metrics.config_version.labels(kind, new.version).set(1)
        metrics.reloads.labels(kind, "ok").inc()
        log.info(f"{kind}_reloaded", version=new.version)
        return new


config = Config()
BATCH_MAX = 500        # events per agent iteration
BATCH_WAIT_S = 0.01   # how long an iteration waits for more events before it works on what it has


# A letter keeps the whole failed record up to this size, so that `warwire alerts dlq replay` can
# publish it again (a larger one, cut, stays a letter to read): far below the 1 MB record limit.
MAX_LETTER_VALUE = 200_000


def _letter(stage: str, msg: Any, reason: str, value: bytes | None = None) -> DeadLetter:
    """A dead letter for `msg`: a faust event's message or an aiokafka ConsumerRecord; `value`:
    what failed when it is less than the whole record (one item of a batch record)."""
    if value is None:
        value = msg.value if isinstance(msg.value, bytes) else b""
    metrics.dead_letters.labels(stage).inc()
    log.warning("dead_lettered", stage=stage, reason=reason, topic=msg.topic,
                partition=msg.partition, offset=msg.offset)
    return DeadLetter(reason=reason, stage=stage, topic=msg.topic, partition=msg.partition,
                      offset=msg.offset, value=value[:MAX_LETTER_VALUE].decode("utf-8", "replace"), at=utcnow())


async def _dead_letter(stage: str, msg: Any, reason: str) -> Any:
    return await dlq_topic.send(key=msg.key if isinstance(msg.key, bytes) else None,
                                value=encode(_letter(stage, msg, reason)))


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
            _abort(stage, "stopped before the broker confirmed a batch's output")
        raise
    except Exception as exc:  # noqa: BLE001
        _abort(stage, f"the broker did not take a batch's output: {type(exc).__name__}: {exc}")


class Continuity:
    """Checks that an agent sees every offset of its partitions in order. A record after a
    missing offset means faust skipped records (faust #221: a record prefetched before a
    rebalance, delivered after the seek back); the worker then exits before that record is
    acknowledged, and its next start reads again from the committed offset. Earlier offsets
    again (a redelivery after a rebalance) are fine: every stage is idempotent."""

    generation = 0  # bumped by every rebalance (`_on_assigned`)

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.next: dict[Any, int] = {}
        self.seen_generation = -1

    def check(self, events: Any) -> None:
        if self.seen_generation != Continuity.generation:
            self.next.clear()
            self.seen_generation = Continuity.generation
        committed = getattr(app.consumer, "_committed_offset", {})
        for event in events:
            tp, offset = event.message.tp, event.message.offset
            expected = self.next.get(tp)
            if expected is None:
                expected = committed.get(tp)
            if expected is not None and offset > expected:
                _abort(self.stage, f"faust skipped offsets {expected} to {offset - 1} of {tp.topic}[{tp.partition}]")
            self.next[tp] = max(expected or 0, offset + 1)


@app.on_partitions_assigned.connect
async def _on_assigned(app: Any, assigned: Any, **kwargs: Any) -> None:
    Continuity.generation += 1


def _abort(stage: str, reason: str) -> None:
    log.critical("worker_exiting_uncommitted", stage=stage, reason=reason,
                 hint="its uncommitted events are processed again at the next start")
    logging.shutdown()
    os._exit(70)


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
        _abort(stage, f"{type(exc).__name__}: {exc}")


async def _each(stage: str, events: Any, handle: Callable[[Any], Awaitable[list[Any]]]) -> list[Any]:
    """Run `handle` on every event of a batch; it returns the send futures it started. A bad
    record or a failing handler sends that event to the DLQ; the others go on."""
    futures: list[Any] = []
    for event in events:
        try:
            futures.extend(await handle(event))
        except RecordError as exc:
            futures.append(await _dead_letter(stage, event.message, str(exc)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - an escaping exception would lose the message
            log.exception("stage_failed", stage=stage)
            futures.append(await _dead_letter(stage, event.message, f"{type(exc).__name__}: {exc}"))
    return futures


analyzers = AnalyzerPool(settings.analyzers)


async def _analyze_batch(records: list[ConsumerRecord]) -> list[Any]:
    analyzed, errors = await analyzers.analyze(config.taxonomy, [r.value for r in records])
    futures = [await _dead_letter("analyze", records[i], reason) for i, reason in errors]
    for lang, value in analyzed:
        futures.append(await analyzed_topic.send(key=lang.encode(), value=value))
    return futures


class _Decide:
    """Stage 2 over one batch: decide each event against the table (and the batch's own earlier
    writes), stage the writes, send story updates and alerts."""

    def __init__(self) -> None:
        self.state = StateBatch(dedupe_state)
        self.counts: Counter[tuple[str, ...]] = Counter()
        self.rule_items: dict[str, list[RuleItem]] = {}
        self.alerts: list[Alert] = []
        self.items = 0

    async def __call__(self, event: Any) -> list[Any]:
        batch = decode(AnalyzedBatch, event.value)
        self.items += len(batch.items)
        partition, offset = event.message.partition, event.message.offset
        futures: list[Any] = []
        for index, analyzed in enumerate(batch.items):
            try:
                futures.extend(await self._one(analyzed, partition, (partition, offset, index)))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one item must not cost its batch
                log.exception("stage_failed", stage="decide", item=analyzed.item.id)
                # The letter holds the failing item itself (not its batch), which
                # `warwire alerts dlq replay` can publish to warwire.raw again.
                letter = _letter("decide", event.message, f"item {index} ({analyzed.item.id}): {type(exc).__name__}: {exc}",
                                 value=encode(analyzed.item))
                futures.append(await dlq_topic.send(key=analyzed.item.id.encode(), value=encode(letter)))
        return [*futures, *self.state.send(partition, f"{partition}:{offset}".encode())]

    async def _one(self, analyzed: AnalyzedItem, partition: int, source: tuple[int, int, int]) -> list[Any]:
        res = decide(analyzed, rules=config.rules, get_many=lambda keys: self.state.get_many(partition, keys),
                     now=time.time(), horizon_s=settings.horizon_s, silences=config.silences, source=source)
        t, item = res.tagged, analyzed.item
        self.state.stage(partition, res.writes)
        futures = []
        c = self.counts
        c["items", "duplicate" if t.duplicate_of else "new"] += 1
        if t.duplicate_reason:
            c["duplicates", t.duplicate_reason] += 1
        for topic in t.topics:
            c["tagged", topic] += 1
        for rule, reason in res.suppressed:
            c["suppressed", rule, reason] += 1
        if t.outlets > 1:
            metrics.top_stories.update(t.story, t.outlets, (t.story, item.title[:80]))
        if res.story_update is not None:
            futures.append(await stories_topic.send(key=res.story_update.story.encode(),
                                                    value=encode(res.story_update)))
        for alert in res.alerts:
            c["alerts", alert.rule, alert.severity] += 1
            metrics.latest_alerts.update(alert.id, alert.fired_at.timestamp(),
                                         (alert.rule, alert.severity, alert.title[:80]))
            log.info("alert_fired", rule=alert.rule, story=alert.story, item=item.id, topics=alert.topics,
                     outlets=alert.outlets)
            self.alerts.append(alert)
        for it in res.rule_events:
            self.rule_items.setdefault(it.rule, []).append(it)
        return futures

    async def send_batch_records(self) -> list[Any]:
        """The batch's alerts in AlertBatch records, and one rule-events record per rule: the
        next stages read few records, not one per alert or item."""
        out = [await alerts_topic.send(key=key, value=value) for key, value in alert_records(self.alerts)]
        for rule, items in self.rule_items.items():
            compiled = config.rules.get(rule)
            ev = RuleEvent(kind="items", rule=rule, items=items, **(compiled.as_sent() if compiled is not None else {}))
            out.append(await rule_events_topic.send(key=rule.encode(), value=encode(ev)))
        self.alerts.clear()
        self.rule_items.clear()
        return out

    def publish_counts(self) -> None:
        by = {"items": metrics.items, "duplicates": metrics.duplicates, "tagged": metrics.tagged,
              "suppressed": metrics.suppressed, "alerts": metrics.alerts}
        for (kind, *labels), n in self.counts.items():
            by[kind].labels(*labels).inc(n)
        self.counts.clear()


async def _analyze(records: list[ConsumerRecord]) -> None:
    t0 = time.perf_counter()
    futures = await _analyze_batch(records)
    metrics.stage_seconds.labels("analyze").observe((time.perf_counter() - t0) / len(records))
    metrics.stage_items.labels("analyze").inc(len(records))
    await confirm("analyze", futures)


intake = RawIntake(settings.bootstrap, raw_topic.get_topic_name(), f"{app.conf.id}-intake",
                   f"{app.conf.id}-intake-{WORKER_ID}", _analyze, app.monitor, batch_max=BATCH_MAX)


@app.task
async def analyze_items() -> None:
    """Stage 1 (tag, fingerprint, re-key by language) over warwire.raw: see streams/intake.py.
    A task that ended would leave the worker ready with stage 1 stopped, so a failure ends the
    worker instead, its batch uncommitted (bad records are dead-lettered, not failures)."""
    try:
        await intake.run()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001
        log.exception("stage_failed", stage="analyze")
        _abort("analyze", f"{type(exc).__name__}: {exc}")


@app.agent(analyzed_topic, concurrency=1)
async def decide_items(stream: Any) -> None:
    continuity = Continuity("decide")
    async for events in stream.take_events(BATCH_MAX, within=BATCH_WAIT_S):
        async with uncommitted_on_failure("decide"):
            continuity.check(events)
            t0 = time.perf_counter()
            step = _Decide()
            futures = await _each("decide", events, step)
            futures += await step.send_batch_records()
            metrics.stage_seconds.labels("decide").observe((time.perf_counter() - t0) / max(step.items, 1))
            metrics.stage_items.labels("decide").inc(step.items)
            await confirm("decide", futures)
            step.state.commit()  # RocksDB only after the broker has the changelog and the outputs
            step.publish_counts()


def _set_silences(current: dict[str, Silence]) -> None:
    now = time.time()
    config.silences = [s for s in current.values() if s.ends_at > now]
    active = sum(s.active(now) for s in config.silences)
    metrics.silences_active.set(active)
    log.info("silences_updated", active=active)


@app.task
async def follow_silences() -> None:
    """Every worker keeps all silences (warwire.silences, one compacted partition) in memory."""
    while True:
        try:
            await silence_store.follow(settings, _set_silences)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - keep following; the last known silences stay active
            log.exception("silences_follow_failed")
            await asyncio.sleep(5)


@app.timer(interval=2.0)
async def reload_config() -> None:
    config.reload_if_changed()


@app.timer(interval=1.0)
async def refresh_leaderboards() -> None:
    metrics.top_stories.refresh()
    metrics.latest_alerts.refresh()


broker_probe = BrokerProbe(settings.bootstrap)


def _recovered() -> str | None:
    return None if app.tables.recovery.completed.is_set() else "table recovery in progress"


def _rules_loaded() -> str | None:
    return None if config.rules.rules else "no rules loaded"


def _intake_joined() -> str | None:
    return None if intake.assigned is not None else "joining the raw topic's consumer group"


def _analyzers_warm() -> str | None:
    return None if analyzers.warm else "analyzer helpers starting"


@app.task
async def start_http() -> None:
    await serve(metrics.registry, {"broker": broker_probe.reason, "tables": _recovered,
                                   "rules": _rules_loaded, "analyzers": _analyzers_warm,
                                   "intake": _intake_joined}, settings.metrics_port)
    await analyzers.warm_up(config.taxonomy)
    asyncio.ensure_future(broker_probe.run())
    # The story tier's term classes (≈ 3 s for the five languages), built now rather than in
    # the middle of the first batch of each language.
    asyncio.ensure_future(asyncio.to_thread(lambda: [background(lang) for lang in LANGUAGES]))
    log.info("worker_started", broker=settings.bootstrap, partitions=settings.partitions,
             taxonomy=config.taxonomy.version, rules=config.rules.version,
             metrics_port=settings.metrics_port or None)
