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
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from prometheus_client import CollectorRegistry, Histogram, PlatformCollector, ProcessCollector

from alerts import delivery, silence_store
from alerts.engine import RuleSet, compile_rules
from alerts.loader import load_rules, rule_files
from alerts.silences import Silence
from streams import logs
from streams.app import (
    alerts_topic,
    analyzed_topic,
    app,
    dedupe_index,
    dlq_topic,
    raw_topic,
    settings,
    stories,
    stories_topic,
    throttle,
)
from streams.core.pipeline import analyze, decide, shard_key
from streams.core.spec import SpecError
from streams.core.tagging import Taxonomy, compile_taxonomy, load_taxonomy
from streams.http import serve
from streams.metrics import MsToSeconds, PipelineMetrics
from streams.schema import (
    AnalyzedItem,
    DeadLetter,
    NewsItem,
    RecordError,
    decode,
    encode,
    utcnow,
)
from streams.topics import BrokerProbe

log = logs.get("warwire.worker")


def faust_metrics(registry: CollectorRegistry, prefix: str = "warwire_faust") -> object:
    """faust's Prometheus sensors, with `<prefix>_events_runtime_ms` (an abbreviated unit that
    promtool rejects) replaced by `<prefix>_events_runtime_seconds`."""
    m = FaustMetrics.create(registry, prefix)
    registry.unregister(m.events_runtime_latency)
    seconds = Histogram(f"{prefix}_events_runtime_seconds", "Time an event spent in an agent", registry=registry,
                        buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
    return m._replace(events_runtime_latency=MsToSeconds(seconds))


metrics = PipelineMetrics(CollectorRegistry())
ProcessCollector(registry=metrics.registry)
PlatformCollector(registry=metrics.registry)
# faust's own sensors (events, consumer offsets and end offsets, commit and send latency).
app.monitor = PrometheusMonitor(metrics=faust_metrics(metrics.registry))


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

    def _load_rules(self) -> RuleSet:
        spec = load_rules(list(settings.rules), self.taxonomy.spec.topic_ids)
        self.receivers = delivery.resolve_receivers(spec.receivers)
        for r in self.receivers.values():
            if not r.configured:
                log.info("receiver_unconfigured", receiver=r.name,
                         hint="set its url_env variable to deliver there; its alerts go to the console")
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
            log.error(f"{kind}_reload_rejected", errors=[str(i) for i in exc.issues], active_version=active)
            return None
        if new.version == active:
            return None
        metrics.config_version.labels(kind, active).set(0)
        metrics.config_version.labels(kind, new.version).set(1)
        metrics.reloads.labels(kind, "ok").inc()
        log.info(f"{kind}_reloaded", version=new.version)
        return new


config = Config()
async def _dead_letter(stage: str, event: Any, reason: str) -> None:
    msg = event.message
    value = msg.value if isinstance(msg.value, bytes) else b""
    letter = DeadLetter(reason=reason, stage=stage, topic=msg.topic, partition=msg.partition,
                        offset=msg.offset, value=value[:10_000].decode("utf-8", "replace"), at=utcnow())
    metrics.dead_letters.labels(stage).inc()
    log.warning("dead_lettered", stage=stage, reason=reason, topic=msg.topic,
                partition=msg.partition, offset=msg.offset)
    fut = await dlq_topic.send(key=msg.key if isinstance(msg.key, bytes) else None, value=encode(letter))
    await fut


async def _guarded(stage: str, event: Any, handler: Callable[[Any], Awaitable[None]]) -> None:
    try:
        await handler(event)
    except RecordError as exc:
        await _dead_letter(stage, event, str(exc))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - an escaping exception would lose the message
        log.exception("stage_failed", stage=stage)
        try:
            await _dead_letter(stage, event, f"{type(exc).__name__}: {exc}")
        except Exception:  # noqa: BLE001
            log.exception("dead_letter_failed", stage=stage)


def _float(b: bytes | None) -> float | None:
    return float(b) if b else None


async def _analyze(event: Any) -> None:
    item = decode(NewsItem, event.value)
    t0 = time.perf_counter()
    analyzed = analyze(item, config.taxonomy)
    metrics.stage_seconds.labels("analyze").observe(time.perf_counter() - t0)
    fut = await analyzed_topic.send(key=shard_key(analyzed).encode(), value=encode(analyzed))
    await fut  # on the broker before this item's offset can be committed


async def _decide(event: Any) -> None:
    analyzed = decode(AnalyzedItem, event.value)
    item = analyzed.item
    now = time.time()
    t0 = time.perf_counter()
    res = decide(analyzed, rules=config.rules,
                 index_get=lambda k: dedupe_index.get(k.encode()),
                 story_get=lambda k: stories.get(k.encode()),
                 throttle_get=lambda k: _float(throttle.get(k.encode())), now=now,
                 horizon_s=settings.horizon_s, silences=config.silences)
    metrics.stage_seconds.labels("decide").observe(time.perf_counter() - t0)
    for k, v in res.index_writes.items():
        dedupe_index[k.encode()] = v
    stories[res.story_write[0].encode()] = res.story_write[1]
    for k, ts in res.throttle_writes.items():
        throttle[k.encode()] = repr(ts).encode()
    t = res.tagged
    metrics.items.labels("duplicate" if t.duplicate_of else "new").inc()
    if t.duplicate_reason:
        metrics.duplicates.labels(t.duplicate_reason).inc()
    for topic in t.topics:
        metrics.tagged.labels(topic).inc()
    for rule, reason in res.suppressed:
        metrics.suppressed.labels(rule, reason).inc()
    metrics.top_stories.update(t.story, t.outlets, (t.story, item.title[:80]))
    futures = []
    if res.story_update is not None:
        futures.append(await stories_topic.send(key=res.story_update.story.encode(), value=encode(res.story_update)))
    for alert in res.alerts:
        metrics.alerts.labels(alert.rule, alert.severity).inc()
        metrics.latest_alerts.update(alert.id, alert.fired_at.timestamp(),
                                     (alert.rule, alert.severity, alert.title[:80]))
        log.info("alert_fired", rule=alert.rule, story=alert.story, item=item.id, topics=alert.topics,
                 outlets=alert.outlets)
        futures.append(await alerts_topic.send(key=alert.id.encode(), value=encode(alert)))
    for fut in futures:
        await fut  # the alert is on the broker before this item's offset can be committed


@app.agent(raw_topic, concurrency=1)
async def analyze_items(stream: Any) -> None:
    async for event in stream.events():
        await _guarded("analyze", event, _analyze)


@app.agent(analyzed_topic, concurrency=1)
async def decide_items(stream: Any) -> None:
    async for event in stream.events():
        await _guarded("decide", event, _decide)


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


broker_probe = BrokerProbe(settings.bootstrap)


def _recovered() -> str | None:
    return None if app.tables.recovery.completed.is_set() else "table recovery in progress"


def _rules_loaded() -> str | None:
    return None if config.rules.rules else "no rules loaded"


@app.task
async def start_http() -> None:
    await serve(metrics.registry, {"broker": broker_probe.reason, "tables": _recovered,
                                   "rules": _rules_loaded}, settings.metrics_port)
    asyncio.ensure_future(broker_probe.run())
    log.info("worker_started", broker=settings.bootstrap, partitions=settings.partitions,
             taxonomy=config.taxonomy.version, rules=config.rules.version,
             metrics_port=settings.metrics_port or None)
