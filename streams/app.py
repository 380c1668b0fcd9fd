"""The one faust.App: its settings, topics and tables. Agents live in streams/agents.py.

Topics carry raw bytes (encoded by streams.schema), so a poison value reaches our code, which
dead-letters it, instead of failing inside faust's deserialiser. Tables live in RocksDB
(rocksdict) under the worker's data directory and are restored from their changelogs.
"""

from __future__ import annotations

import os
from typing import Any

import faust
from faust.sensors.monitor import Monitor
from faust.transport.drivers import aiokafka as faust_aiokafka
from prometheus_client import CollectorRegistry, Gauge

from streams import hooks
from streams.config import Settings, load_settings, worker_id
from streams.kafka import TrackingProducer
from streams.schema import APP_ID, TABLES, changelog_topic
from streams.state import BatchTable
from streams.topics import AGGREGATE_TTL_S, LEDGER_TTL_S

WORKER_ID = worker_id(os.environ.get("WARWIRE_WORKER_ID"))


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
    the jump itself (streams.agents.Continuity) and restart the worker."""

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        return None


class Transport(faust_aiokafka.Transport):
    Producer = IdempotentProducer
    Consumer = NoGapConsumer


class WarwireApp(faust.App):
    def _new_producer_transport(self) -> Any:
        return Transport(self.conf.broker_producer, self)

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)


def create_app(settings: Settings, app_id: str = APP_ID) -> WarwireApp:
    """The faust app with warwire's settings (also used by the pass-through benchmark baseline,
    so that both run with the same producer, commit and store settings)."""
    hooks.check()  # the private faust/aiokafka names overridden below are all still there
    datadir = settings.worker_data / f"worker-{WORKER_ID}"
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
        consumer_group_instance_id=f"{settings.topic(app_id)}-{WORKER_ID}",
        broker_session_timeout=20.0,  # a worker that is gone for good loses its partitions after 20 s
        broker_heartbeat_interval=3.0,
        broker_commit_every=100,
        broker_commit_interval=1.0,
        table_standby_replicas=0,
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
    )


settings = load_settings()
app = create_app(settings)

raw_topic = app.topic(settings.topic("warwire.raw"), key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
# Stage 2's input, keyed by language (streams.core.pipeline.shard_key): see docs/architecture.md.
analyzed_topic = app.topic(settings.topic("warwire.analyzed"), key_type=bytes, value_type=bytes,
                           key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
alerts_topic = app.topic(settings.topic("warwire.alerts"), key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
# Delivery tasks, one per alert and receiver, read by one lane agent per receiver (alerts/agent.py).
deliveries_topic = app.topic(settings.topic("warwire.deliveries"), key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
stories_topic = app.topic(settings.topic("warwire.stories"), key_type=bytes, value_type=bytes,
                          key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
# Items for rules over many items, digest entries and ticks, keyed by rule (alerts/agent.py).
rule_events_topic = app.topic(settings.topic("warwire.rule-events"), key_type=bytes, value_type=bytes,
                              key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
dlq_topic = app.topic(settings.topic("warwire.dlq"), key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw", partitions=1)


# RocksDB per table partition: small memtables and cache, so that a worker's memory is bounded
# by the number of partitions it holds, not by how much it has written (faust's defaults are
# 64 MiB memtables, three of them, and a 2 GiB cache per database).
ROCKSDB = {"write_buffer_size": 16 * 1024 * 1024, "max_write_buffer_number": 2,
           "block_cache_size": 16 * 1024 * 1024, "bloom_filter_size": 10}


def _table(name: str, help: str, kind: type = faust.Table, **options: Any) -> Any:
    # Keys and values are bytes we encode ourselves (the app's serializers are "raw").
    return app.tables.add(kind(app, name=name, default=None, key_type=bytes, value_type=bytes,
                               partitions=settings.partitions, help=help, beacon=app.tables.beacon,
                               options={**ROCKSDB, **options}))


# Stage 2's state (streams/state.py): one changelog record per item; keys expire after the
# horizon plus a day (RocksDB TTL, and the changelog's retention set in streams/topics.py).
dedupe_state = _table(TABLES[0], "item, url, text, candidate, story and rule-fired keys (streams.core.dedupe)",
                      BatchTable, ttl=int(settings.state_ttl_s))
delivered = _table(TABLES[1], "alert id:receiver -> delivery state (alerts.delivery ledger states)", BatchTable,
                   ttl=int(LEDGER_TTL_S))
# The aggregate stage's windows, new_term values and digests (alerts/aggregator.py), kept 35 days.
aggregates = _table(TABLES[2], "rule windows, new_term values, digests (alerts.aggregator)", BatchTable,
                    ttl=int(AGGREGATE_TTL_S))
# streams/topics.py creates these changelogs before faust starts; the names must agree.
assert all(t._changelog_topic_name() == changelog_topic(app.conf.id, t.name) for t in (dedupe_state, delivered, aggregates))
