"""The aggregate stage: a thin shell around alerts.aggregator.

  warwire.rule-events ──aggregate──▶ warwire.alerts (frequency, spike, new_term, flatline alerts)
  (keyed by rule: items of             warwire.deliveries (digests, one task per receiver)
   rules over many items, digest
   entries, ticks)

State is the `aggregates` BatchTable (streams/state.py): one changelog record per event, RocksDB
written only once the broker has the batch's records. A timer sends a tick to every partition
every TICK_S, so that flatline, spike-down and digests act when nothing arrives.
"""

from __future__ import annotations

import time
from typing import Any

from aiokafka.partitioner import murmur2

from alerts import aggregator
from alerts.agent import _tasks
from alerts.silences import silenced_by
from streams.agents import BATCH_MAX, BATCH_WAIT_S, Continuity, _each, config, confirm, log, metrics
from streams.app import aggregates, alerts_topic, app, rule_events_topic, settings
from streams.schema import RuleEvent, alert_records, decode, encode
from streams.state import StateBatch

TICK_S = 5.0


def partition_of(rule: str) -> int:
    """The rule-events partition that holds a rule's state: where its keyed events land."""
    return (murmur2(rule.encode()) & 0x7FFFFFFF) % settings.partitions


def _receivers(spec: Any) -> tuple[str, ...]:
    rule = config.rules.get(spec.name)
    return rule.receivers if rule is not None else ("console",)


class _Aggregate:
    """The aggregate stage over one batch: rule events, digest entries and ticks."""

    def __init__(self) -> None:
        self.state = StateBatch(aggregates)

    async def __call__(self, event: Any) -> list[Any]:
        ev = decode(RuleEvent, event.value)
        partition = event.message.partition
        now = time.time()

        def get(keys: Any) -> Any:
            return self.state.get_many(partition, keys)

        if ev.kind == "tick":
            specs = [r.spec for r in config.rules.rules
                     if (r.spec.aggregate or r.spec.digest) and partition_of(r.name) == partition]
            res = aggregator.on_tick(specs, _receivers, get, now)
        else:
            rule = config.rules.get(ev.rule)
            if rule is None:
                return []  # the rule was removed by a reload
            if ev.kind == "digest" and ev.alert is not None:
                res = aggregator.on_digest(rule.spec, ev.alert, get, now)
            elif rule.spec.aggregate:
                res = aggregator.AggResult()
                for it in ev.items:  # each sees the state the ones before it left
                    one = aggregator.on_item(rule.spec, rule.receivers, it, get, now)
                    self.state.stage(partition, one.writes)
                    res.alerts += one.alerts
                    res.suppressed += one.suppressed
            else:
                return []
        self.state.stage(partition, res.writes)
        futures = []
        for rule_name, reason in res.suppressed:
            metrics.suppressed.labels(rule_name, reason).inc()
        fired = []
        for alert in res.alerts:
            if config.silences and silenced_by(config.silences, alert, now) is not None:
                metrics.suppressed.labels(alert.rule, "silence").inc()
                continue
            metrics.alerts.labels(alert.rule, alert.severity).inc()
            log.info("alert_fired", rule=alert.rule, key=alert.key, reason=alert.reason)
            fired.append(alert)
        for key, value in alert_records(fired):
            futures.append(await alerts_topic.send(key=key, value=value))
        for note in res.notifications:
            metrics.suppressed.labels(note.rule, "grouped").inc(max(len(note.digest) - 1, 0))
            log.info("digest_sent", rule=note.rule, key=note.key, alerts=len(note.digest))
            futures.extend(await _tasks(note, now))
        return [*futures, *self.state.send(partition, f"{partition}:{event.message.offset}".encode())]


@app.agent(rule_events_topic, concurrency=1)
async def aggregate(stream: Any) -> None:
    continuity = Continuity("aggregate")
    async for events in stream.take_events(BATCH_MAX, within=BATCH_WAIT_S):
        continuity.check(events)
        step = _Aggregate()
        await confirm("aggregate", await _each("aggregate", events, step))
        step.state.commit()



@app.timer(interval=TICK_S)
async def tick_rules() -> None:
    """A tick to every rule-events partition, so time-driven rules and digests act when nothing
    arrives (several workers each send ticks; a tick changes nothing that is not due)."""
    if not any(r.spec.aggregate or r.spec.digest for r in config.rules.rules):
        return
    tick = encode(RuleEvent(kind="tick", at=time.time()))
    for p in range(settings.partitions):
        await rule_events_topic.send(key=b"tick", value=tick, partition=p)
