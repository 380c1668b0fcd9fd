"""The aggregate stage, registered on a worker by `register` (called by the composition root,
streams/wiring.py): a thin shell around alerts.aggregate_core.

  warwire.rule-events ──aggregate──▶ warwire.alerts (frequency, spike, new_term, flatline alerts)
  (keyed by rule: items of             warwire.deliveries (digests, one task per receiver)
   rules over many items, digest
   entries, ticks)

State is the `aggregates` BatchTable (streams/state.py): one changelog record per event, RocksDB
written only once the broker has the batch's records. A timer sends a tick to every partition
every TICK_S, so that flatline, spike-down and digests act when nothing arrives. An event read
again after a crash or a rebalance (its offset and digest are in the state: aggregate_core.on_event)
counts nothing twice and sends the alerts it sent the first time, under the same ids.
"""

from __future__ import annotations

import time
from typing import Any

import xxhash
from aiokafka.partitioner import murmur2

from alerts import aggregate_core
from alerts.delivery_lanes import Delivery
from streams.runtime import Worker
from streams.schema import RuleEvent, alert_records, decode, encode
from streams.shell import BATCH_MAX, BATCH_WAIT_S, confirm, log, uncommitted_on_failure
from streams.state import StateBatch

TICK_S = 5.0


def partition_of(rule: str, partitions: int) -> int:
    """The rule-events partition that holds a rule's state: where its keyed events land."""
    return (murmur2(rule.encode()) & 0x7FFFFFFF) % partitions


class LoadedRules:
    """The worker's loaded rules as the aggregate stage reads them (aggregate_core.Rules)."""

    def __init__(self, w: Worker) -> None:
        self.w = w

    def spec(self, name: str) -> Any:
        rule = self.w.config.rules.get(name)
        return rule.spec if rule is not None else None

    def receivers(self, spec: Any) -> tuple[str, ...]:
        rule = self.w.config.rules.get(spec.name)
        return rule.receivers if rule is not None else ("console",)

    def timed(self, partition: int) -> list[Any]:
        return [r.spec for r in self.w.config.rules.rules
                if (r.spec.aggregate or r.spec.digest) and partition_of(r.name, self.w.settings.partitions) == partition]


class Aggregate:
    """The aggregate stage over one batch: rule events, digest entries and ticks."""

    def __init__(self, w: Worker, out: Delivery) -> None:
        self.w, self.out = w, out
        self.state = StateBatch(w.tables.aggregates)
        self.rules = LoadedRules(w)

    async def __call__(self, event: Any) -> list[Any]:
        w = self.w
        ev = decode(RuleEvent, event.value)
        partition, offset = event.message.partition, event.message.offset
        now = time.time()
        res = aggregate_core.on_event(ev, partition, offset, xxhash.xxh64_intdigest(event.value), self.rules,
                                  lambda keys: self.state.get_many(partition, keys), now, w.config.silences)
        self.state.stage(partition, res.writes)
        futures = []
        if res.replay:
            log.info("rule_event_replayed", partition=partition, offset=offset, alerts=len(res.alerts),
                     digests=len(res.notifications))
        for rule_name, reason in res.suppressed:
            w.metrics.suppressed.labels(rule_name, reason).inc()
        for alert in res.alerts:
            if not res.replay:
                w.metrics.alerts.labels(alert.rule, alert.severity).inc()
                log.info("alert_fired", rule=alert.rule, key=alert.key, reason=alert.reason)
        for key, value in alert_records(res.alerts):
            futures.append(await w.topics.alerts.send(key=key, value=value))
        for note in res.notifications:
            if not res.replay:
                w.metrics.suppressed.labels(note.rule, "grouped").inc(max(len(note.digest) - 1, 0))
                log.info("digest_sent", rule=note.rule, key=note.key, alerts=len(note.digest))
            futures.extend(await self.out.tasks(note, now))
        return [*futures, *self.state.send(partition, f"{partition}:{offset}".encode())]


def register(w: Worker, out: Delivery) -> None:
    """The aggregate agent over warwire.rule-events and the timer that ticks its partitions."""

    async def aggregate(stream: Any) -> None:
        continuity = w.continuity("aggregate")
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WAIT_S):
            async with uncommitted_on_failure("aggregate"):
                await continuity.admit(events)
                step = Aggregate(w, out)
                await confirm("aggregate", await w.letters.each("aggregate", events, step))
                step.state.commit()

    async def tick_rules() -> None:
        """A tick to every rule-events partition, so time-driven rules and digests act when nothing
        arrives (several workers each send ticks; a tick changes nothing that is not due)."""
        if not any(r.spec.aggregate or r.spec.digest for r in w.config.rules.rules):
            return
        tick = encode(RuleEvent(kind="tick", at=time.time()))
        for p in range(w.settings.partitions):
            await w.topics.rule_events.send(key=b"tick", value=tick, partition=p)

    w.agents["aggregate"] = w.app.agent(w.topics.rule_events, name="warwire.aggregate", concurrency=1)(aggregate)
    w.agents["tick_rules"] = w.app.timer(interval=TICK_S)(tick_rules)
