"""The composition root: `build_worker` makes one stream worker (its faust app, topics, tables,
metrics, live configuration, agents, lanes and tasks) from settings. `warwire worker` calls it
(streams/worker.py), and so do the in-process agent tests; no module builds any of it when it
is imported.

Layers, each importing only those below it:
  composition   streams/wiring.py, streams/worker.py, streams/cli.py, streams/supervisor.py
  shells        streams/stages.py, alerts/delivery_lanes.py, alerts/aggregate_stage.py, streams/shell.py,
                streams/app.py, streams/state.py, streams/intake.py, connectors/poller.py, ... (faust,
                aiokafka, aiohttp)
  pure cores    streams/core/, connectors/core/, alerts/engine.py, aggregate_core.py, windows.py, render.py, ... (no I/O)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from alerts import aggregate_stage, delivery_lanes
from streams import stages
from streams.app import LagMonitor, create_app, declare_tables, declare_topics
from streams.config import Settings
from streams.live_config import LiveConfig
from streams.metrics import PipelineMetrics
from streams.runtime import Worker
from streams.shell import DeadLetters


def build_worker(settings: Settings, worker_id: str = "0") -> Worker:
    app = create_app(settings, worker_id)
    topics = declare_topics(app, settings)
    tables = declare_tables(app, settings)
    metrics = PipelineMetrics(CollectorRegistry())
    app.monitor = LagMonitor(metrics.registry)
    w = Worker(settings=settings, worker_id=worker_id, app=app, topics=topics, tables=tables, metrics=metrics,
               config=LiveConfig(settings, metrics), letters=DeadLetters(topics.dlq, metrics))
    app.on_partitions_assigned.connect(w.rebalances.on_assigned)
    stages.register(w)
    out = delivery_lanes.register(w)
    aggregate_stage.register(w, out)
    return w
