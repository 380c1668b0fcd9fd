"""The worker's faust.App, its topics and its tables, declared for the composition root
(streams/wiring.py); importing this module creates nothing.

Topics carry raw bytes (encoded by streams.schema), so a poison value reaches our code, which
dead-letters it, instead of failing inside faust's deserialiser. Tables live in RocksDB
(rocksdict) under the worker's data directory and are restored from their changelogs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
from faust.sensors.monitor import Monitor
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent
from prometheus_client import CollectorRegistry, Gauge

from streams import hooks
from streams.config import Settings
from streams.kafka import TrackingProducer
from streams.schema import APP_ID, RETRY_TIERS_S, TABLES, TOPIC_FEEDBACK, TOPIC_SILENCES, changelog_topic, retry_topic
from streams.state import BatchTable
from streams.topics import AGGREGATE_TTL_S, LEDGER_TTL_S


class IdempotentProducer(faust_aiokafka.Producer):
    """faust enables idempotence only for transactions; we want it for every send. The client is
    our TrackingProducer, which works around an aiokafka metadata bug (streams/kafka.py)."""

    def _settings_extra(self) -> dict[str, Any]:
        return {"acks": "all", "enable_idempotence": True}

    @property
    def _producer_type(self) -> type[TrackingProducer]:
        return TrackingProducer


class LagMonitor(Monitor):
    """faust's monitor without its per-message bookkeeping (which costs more per event than
    stage 2's own work), keeping what operators need: each partition's end offset and committed
    offset, as Prometheus gauges (their difference is the consumer lag)."""

    def __init__(self, registry: CollectorRegistry | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        registry = registry or CollectorRegistry()
        self.end_offset = Gauge("warwire_consumer_end_offset", "Last offset of each consumed partition",
                                ["topic", "partition"], registry=registry)
        self.committed = Gauge("warwire_consumer_committed_offset", "Offset the worker committed, per partition",
                               ["topic", "partition"], registry=registry)

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_table_get(self, table: Any, key: Any) -> None:
        return None

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        return None

    def on_table_del(self, table: Any, key: Any) -> None:
        return None

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> None:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None

    def on_tp_commit(self, tp_offsets: Any) -> None:
        for tp, offset in tp_offsets.items():
            self.committed.labels(tp.topic, str(tp.partition)).set(offset)

    def track_tp_end_offset(self, tp: Any, offset: int) -> None:
        self.end_offset.labels(tp.topic, str(tp.partition)).set(offset)


class NoGapConsumer(faust_aiokafka.Consumer):
    """faust records a jump in the offsets it reads as a gap, and commits over gaps as if those
    offsets were acknowledged: meant for compacted topics and transaction markers. warwire's
    source topics have neither, and after a rebalance a prefetched record can arrive out of
    order (faust #221) and make the records before it a "gap" that is committed unprocessed.
    Without gaps, a commit never passes an offset that was not processed; the agents detect
    the jump itself (streams.shell.Continuity) and restart the worker."""

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        return None


class Transport(faust_aiokafka.Transport):
    Producer = IdempotentProducer
    Consumer = NoGapConsumer


class FlowControl(FlowControlEvent):
    """Flow control that empties the stream queues only when flow resumes after a suspension.

    mode's `resume()` empties every stream queue each time it is called, and faust calls it at
    every step of a start-up's recovery, also while the streams already run (records fetched
    before the source partitions were paused flow once recovery first resumes). The records such
    a call empties were already handed over by the fetcher, and the rest of the fetch in hand moved
    the read offsets past them, so they were not read again: the slowest agent, whose queue held
    them, then saw the next record after a gap and the worker exited (streams.shell.Continuity;
    the kill scenario's self-exits).
    After a real suspension (a rebalance, a stop) the queues are emptied as before: the partitions
    are then read again from their committed offsets."""

    def resume(self) -> None:
        suspended = self._suspend.is_set()
        self._suspend.clear()
        self._resume.set()
        if suspended:
            self.clear()


class WarwireApp(faust.App):
    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return FlowControl(loop=self.loop)

    def _new_producer_transport(self) -> Any:
        return Transport(self.conf.broker_producer, self)

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)


def create_app(settings: Settings, worker_id: str = "0", app_id: str = APP_ID) -> WarwireApp:
    """The faust app with warwire's settings (also used by the pass-through benchmark baseline,
    so that both run with the same producer, commit and store settings)."""
    hooks.check()  # the private faust/aiokafka names overridden below are all still there
    datadir = settings.worker_data / f"worker-{worker_id}"
    return WarwireApp(
        settings.topic(app_id),
        broker=",".join(f"kafka://{h}" for h in settings.bootstrap.split(",")),
        store="rocksdb://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=5,
        producer_max_batch_size=256 * 1024,
        stream_wait_empty=False,
        # Static membership: a worker restarted with the same id takes its partitions back at
        # once, without a rebalance that waits for the old member's session to time out.
        consumer_group_instance_id=f"{settings.topic(app_id)}-{worker_id}",
        broker_session_timeout=20.0,  # a worker that is gone for good loses its partitions after 20 s
        broker_heartbeat_interval=3.0,
        broker_commit_every=100,
        broker_commit_interval=1.0,
        table_standby_replicas=0,
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
    )


@dataclass(frozen=True)
class Topics:
    raw: Any
    analyzed: Any   # stage 2's input, keyed by language (streams.core.pipeline.shard_key)
    alerts: Any
    deliveries: Any  # one task per alert and receiver, read by one lane agent per receiver
    stories: Any
    rule_events: Any  # items of rules over many items, digest entries and ticks, keyed by rule
    dlq: Any
    retries: dict[int, Any]  # delivery tasks waiting to be due, by tier (seconds held)
    feedback: Any    # editors' actions from Slack
    silences: Any


def declare_topics(app: WarwireApp, settings: Settings) -> Topics:
    def topic(name: str, partitions: int = settings.partitions) -> Any:
        return app.topic(settings.topic(name), key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw", partitions=partitions)

    return Topics(raw=topic("warwire.raw"), analyzed=topic("warwire.analyzed"), alerts=topic("warwire.alerts"),
                  deliveries=topic("warwire.deliveries"), stories=topic("warwire.stories"),
                  rule_events=topic("warwire.rule-events"), dlq=topic("warwire.dlq", partitions=1),
                  retries={t: topic(retry_topic(t)) for t in RETRY_TIERS_S},
                  feedback=topic(TOPIC_FEEDBACK, partitions=1), silences=topic(TOPIC_SILENCES, partitions=1))


# RocksDB per table partition: small memtables and cache, so that a worker's memory is bounded
# by the number of partitions it holds, not by how much it has written (faust's defaults are
# 64 MiB memtables, three of them, and a 2 GiB cache per database).
ROCKSDB = {"write_buffer_size": 16 * 1024 * 1024, "max_write_buffer_number": 2,
           "block_cache_size": 16 * 1024 * 1024, "bloom_filter_size": 10}


@dataclass(frozen=True)
class Tables:
    dedupe: BatchTable     # stage 2: item, url, text, candidate, story and rule-fired keys
    delivered: BatchTable  # the delivery ledger: alert id:receiver -> delivery state
    aggregates: BatchTable  # the aggregate stage's windows, new_term values and digests


def declare_tables(app: WarwireApp, settings: Settings) -> Tables:
    """The three BatchTables (streams/state.py); keys expire by RocksDB TTL and by their
    changelog's retention (streams/topics.py creates the changelogs before faust starts)."""
    def table(name: str, help: str, ttl: float) -> Any:
        # Keys and values are bytes we encode ourselves (the app's serializers are "raw").
        return app.tables.add(BatchTable(app, name=name, default=None, key_type=bytes, value_type=bytes,
                                         partitions=settings.partitions, help=help, beacon=app.tables.beacon,
                                         options={**ROCKSDB, "ttl": int(ttl)}))

    tables = Tables(
        dedupe=table(TABLES[0], "item, url, text, candidate, story and rule-fired keys (streams.core.dedupe)",
                     settings.state_ttl_s),
        delivered=table(TABLES[1], "alert id:receiver -> delivery state (alerts.delivery ledger states)", LEDGER_TTL_S),
        aggregates=table(TABLES[2], "rule windows, new_term values, digests (alerts.aggregate_core)", AGGREGATE_TTL_S))
    for t in (tables.dedupe, tables.delivered, tables.aggregates):
        if t._changelog_topic_name() != changelog_topic(app.conf.id, t.name):
            raise RuntimeError(f"table {t.name}: faust names its changelog {t._changelog_topic_name()}, "
                               f"streams/topics.py creates {changelog_topic(app.conf.id, t.name)}")
    return tables
