"""Stages 1 and 2 and the worker's housekeeping, registered on a worker by `register` (called
by the composition root, streams/wiring.py): thin shells that move records and state; every
decision is in core code.

  warwire.raw ──analyze──▶ warwire.analyzed ──decide──▶ warwire.alerts ──(alerts/delivery_lanes.py)
  (by item id:  tag,        (by language: dedupe,
   fingerprint)              stories, rules)
  anything that cannot be processed ──▶ warwire.dlq (with the reason)

Each agent runs with concurrency=1 (faust #606) and scales with partitions and workers.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from aiokafka import ConsumerRecord
from prometheus_client import PlatformCollector, ProcessCollector

from alerts import silence_store
from streams.analyzers import AnalyzerPool
from streams.core.pipeline import decide
from streams.core.profiles import background
from streams.core.text import LANGUAGES
from streams.http import serve
from streams.intake import RawIntake
from streams.runtime import Worker
from streams.schema import (
    Alert,
    AnalyzedBatch,
    AnalyzedItem,
    DeliveryTask,
    RuleEvent,
    RuleItem,
    alert_records,
    decode,
    encode,
)
from streams.shell import BATCH_MAX, BATCH_WAIT_S, abort, confirm, log, uncommitted_on_failure
from streams.state import StateBatch
from streams.topics import BrokerProbe


class Decide:
    """Stage 2 over one batch: decide each event against the table (and the batch's own earlier
    writes), stage the writes, send story updates and alerts."""

    def __init__(self, w: Worker) -> None:
        self.w = w
        self.state = StateBatch(w.tables.dedupe)
        self.counts: Counter[tuple[str, ...]] = Counter()
        self.rule_items: dict[str, list[RuleItem]] = {}
        self.alerts: list[Alert] = []
        self.items = 0
        # slack-app receivers edit a story's message as outlets join (alerts/slack_app.py)
        self.slack_apps = [n for n, r in w.config.receivers.items() if r.type == "slack-app" and r.configured]

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
                letter = self.w.letters.letter(
                    "decide", event.message, f"item {index} ({analyzed.item.id}): {type(exc).__name__}: {exc}",
                    value=encode(analyzed.item))
                futures.append(await self.w.letters.send(analyzed.item.id.encode(), letter))
        return [*futures, *self.state.send(partition, f"{partition}:{offset}".encode())]

    async def _one(self, analyzed: AnalyzedItem, partition: int, source: tuple[int, int, int]) -> list[Any]:
        w = self.w
        res = decide(analyzed, rules=w.config.rules, get_many=lambda keys: self.state.get_many(partition, keys),
                     now=time.time(), horizon_s=w.settings.horizon_s, silences=w.config.silences, source=source)
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
            w.metrics.top_stories.update(t.story, t.outlets, (t.story, item.title[:80]))
        if res.story_update is not None:
            futures.append(await w.topics.stories.send(key=res.story_update.story.encode(),
                                                       value=encode(res.story_update)))
            for name in self.slack_apps:
                task = DeliveryTask(story=res.story_update, receiver=name, attempt=1, not_before=time.time())
                futures.append(await w.topics.deliveries.send(key=res.story_update.story.encode(), value=encode(task)))
        for alert in res.alerts:
            c["alerts", alert.rule, alert.severity] += 1
            w.metrics.latest_alerts.update(alert.id, alert.fired_at.timestamp(),
                                           (alert.id, alert.rule, alert.severity, alert.title[:80]))
            log.info("alert_fired", rule=alert.rule, story=alert.story, item=item.id, topics=alert.topics,
                     outlets=alert.outlets)
            self.alerts.append(alert)
        for it in res.rule_events:
            self.rule_items.setdefault(it.rule, []).append(it)
        return futures

    async def send_batch_records(self) -> list[Any]:
        """The batch's alerts in AlertBatch records, and one rule-events record per rule: the
        next stages read few records, not one per alert or item."""
        topics = self.w.topics
        out = [await topics.alerts.send(key=key, value=value) for key, value in alert_records(self.alerts)]
        for rule, items in self.rule_items.items():
            compiled = self.w.config.rules.get(rule)
            ev = RuleEvent(kind="items", rule=rule, items=items, **(compiled.as_sent() if compiled is not None else {}))
            out.append(await topics.rule_events.send(key=rule.encode(), value=encode(ev)))
        self.alerts.clear()
        self.rule_items.clear()
        return out

    def publish_counts(self) -> None:
        m = self.w.metrics
        by = {"items": m.items, "duplicates": m.duplicates, "tagged": m.tagged, "suppressed": m.suppressed,
              "alerts": m.alerts}
        for (kind, *labels), n in self.counts.items():
            by[kind].labels(*labels).inc(n)
        self.counts.clear()


def register(w: Worker) -> None:
    """Stage 1 (a task over the raw intake), stage 2 (an agent), and the worker's timers and
    tasks: silences, reloads, leaderboards, the HTTP endpoints."""
    app, m = w.app, w.metrics
    ProcessCollector(registry=m.registry)
    PlatformCollector(registry=m.registry)
    analyzers = w.parts["analyzers"] = AnalyzerPool(w.settings.analyzers)

    async def analyze(records: list[ConsumerRecord]) -> None:
        t0 = time.perf_counter()
        analyzed, errors = await analyzers.analyze(w.config.taxonomy, [r.value for r in records])
        futures = [await w.letters.of_record("analyze", records[i], reason) for i, reason in errors]
        for lang, value in analyzed:
            futures.append(await w.topics.analyzed.send(key=lang.encode(), value=value))
        m.stage_seconds.labels("analyze").observe((time.perf_counter() - t0) / len(records))
        m.stage_items.labels("analyze").inc(len(records))
        await confirm("analyze", futures)

    intake = w.parts["intake"] = RawIntake(
        w.settings.bootstrap, w.topics.raw.get_topic_name(), f"{app.conf.id}-intake",
        f"{app.conf.id}-intake-{w.worker_id}", analyze, app.monitor, batch_max=BATCH_MAX)

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
            abort("analyze", f"{type(exc).__name__}: {exc}")

    async def decide_items(stream: Any) -> None:
        continuity = w.continuity("decide")
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WAIT_S):
            async with uncommitted_on_failure("decide"):
                await continuity.admit(events)
                t0 = time.perf_counter()
                step = Decide(w)
                futures = await w.letters.each("decide", events, step)
                futures += await step.send_batch_records()
                m.stage_seconds.labels("decide").observe((time.perf_counter() - t0) / max(step.items, 1))
                m.stage_items.labels("decide").inc(step.items)
                await confirm("decide", futures)
                step.state.commit()  # RocksDB only after the broker has the changelog and the outputs
                step.publish_counts()

    async def follow_silences() -> None:
        """Every worker keeps all silences (warwire.silences, one compacted partition) in memory."""
        while True:
            try:
                await silence_store.follow(w.settings, lambda current: w.config.set_silences(current, time.time()))
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep following; the last known silences stay active
                log.exception("silences_follow_failed")
                await asyncio.sleep(5)

    async def reload_config() -> None:
        w.config.reload_if_changed()

    async def refresh_leaderboards() -> None:
        m.top_stories.refresh()
        m.latest_alerts.refresh()

    broker_probe = BrokerProbe(w.settings.bootstrap)
    checks = {
        "broker": broker_probe.reason,
        "tables": lambda: None if app.tables.recovery.completed.is_set() else "table recovery in progress",
        "rules": lambda: None if w.config.rules.rules else "no rules loaded",
        "analyzers": lambda: None if analyzers.warm else "analyzer helpers starting",
        "intake": lambda: None if intake.assigned is not None else "joining the raw topic's consumer group",
    }

    async def start_http() -> None:
        await serve(m.registry, checks, w.settings.metrics_port, routes=w.parts.get("routes", ()))
        await analyzers.warm_up(w.config.taxonomy)
        asyncio.ensure_future(broker_probe.run())
        # The story tier's term classes (≈ 3 s for the five languages), built now rather than in
        # the middle of the first batch of each language.
        asyncio.ensure_future(asyncio.to_thread(lambda: [background(lang) for lang in LANGUAGES]))
        log.info("worker_started", broker=w.settings.bootstrap, partitions=w.settings.partitions,
                 taxonomy=w.config.taxonomy.version, rules=w.config.rules.version,
                 metrics_port=w.settings.metrics_port or None)

    w.agents["decide"] = app.agent(w.topics.analyzed, name="warwire.decide", concurrency=1)(decide_items)
    for task in (analyze_items, follow_silences, start_http):
        w.agents[task.__name__] = app.task(task)
    w.agents["reload_config"] = app.timer(interval=2.0)(reload_config)
    w.agents["refresh_leaderboards"] = app.timer(interval=1.0)(refresh_leaderboards)
