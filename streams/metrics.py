"""Prometheus metrics of the stream worker. Names: warwire_<subsystem>_<what>_<unit>; labels
bounded (stage, topic, rule, receiver, outcome, reason), never a URL or an item id."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class PipelineMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.items = Counter("warwire_pipeline_items_total", "Items processed, by outcome",
                             ["outcome"], registry=registry)
        self.duplicates = Counter("warwire_dedupe_duplicates_total", "Duplicates found, by reason",
                                  ["reason"], registry=registry)
        self.tagged = Counter("warwire_tagging_items_total", "Items given a topic, by topic",
                              ["topic"], registry=registry)
        self.stage_items = Counter("warwire_pipeline_stage_items_total", "Items through each stage",
                                   ["stage"], registry=registry)
        # Observed once per batch: the batch's time over its items.
        self.stage_seconds = Histogram("warwire_pipeline_stage_seconds", "Time spent per item, by stage",
                                       ["stage"], registry=registry,
                                       buckets=(1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5))
        self.alerts = Counter("warwire_alerts_fired_total", "Alerts fired, by rule and severity",
                              ["rule", "severity"], registry=registry)
        self.suppressed = Counter("warwire_alerts_suppressed_total", "Alerts suppressed, by rule and reason",
                                  ["rule", "reason"], registry=registry)
        self.deliveries = Counter("warwire_delivery_attempts_total", "Delivery attempts, by receiver and outcome",
                                  ["receiver", "outcome"], registry=registry)
        self.delivery_latency = Histogram("warwire_delivery_latency_seconds",
                                          "From alert fired to delivered, by receiver", ["receiver"],
                                          registry=registry,
                                          buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
        self.dead_letters = Counter("warwire_dlq_records_total", "Records sent to the dead-letter topic, by stage",
                                    ["stage"], registry=registry)
        self.reloads = Counter("warwire_config_reloads_total", "Taxonomy and rule reloads, by file kind and result",
                               ["kind", "result"], registry=registry)
        self.silences_active = Gauge("warwire_alerts_silences_active", "Silences in force now", registry=registry)
        self.top_stories = Leaderboard(Gauge(
            "warwire_story_top_outlets", "The ten stories with the most outlets (their first title)",
            ["story", "title"], registry=registry))
        self.latest_alerts = Leaderboard(Gauge(
            "warwire_alert_latest_timestamp_seconds", "The ten latest alerts, by when they fired",
            ["alert", "rule", "severity", "title"], registry=registry))
        self.last_reload_ok = Gauge("warwire_config_last_reload_success",
                                    "1 when the last reload of the file kind succeeded, 0 when it was rejected",
                                    ["kind"], registry=registry)
        self.config_version = Gauge("warwire_config_info", "Active taxonomy and rule-set versions",
                                    ["kind", "version"], registry=registry)



class Leaderboard:
    """A gauge that shows only the current top `k` entries (e.g. stories by outlet count), so its
    label sets stay few, and that creates a series only when an entry joins the top: the labels
    carry no rank (a dashboard sorts by value), and an entry keeps the labels of its first update
    (a story keeps its first title as later outlets join it). A rank label, or the title of each
    new item, made every reordering and every join a new series (issue 16, hole 12). `update` is
    cheap (it runs per item); `refresh` rebuilds the gauge (a timer calls it once a second)."""

    def __init__(self, gauge: Gauge, k: int = 10, keep: int = 1000) -> None:
        self.gauge, self.k, self.keep = gauge, k, keep
        self.entries: dict[str, tuple[float, tuple[str, ...]]] = {}
        self.shown: dict[str, tuple[str, ...]] = {}  # key -> labels of its series now
        self.dirty = False

    def update(self, key: str, value: float, labels: tuple[str, ...]) -> None:
        old = self.entries.pop(key, None)
        # The labels the entry had (or, forgotten beyond `keep` but still shown, its series has):
        # a key's series never changes its labels, so no series is left behind when it does.
        self.entries[key] = (value, old[1] if old else self.shown.get(key, labels))
        if len(self.entries) > self.keep:
            # Forget the least recently updated entries beyond `keep` (dicts keep insertion order).
            for gone in list(self.entries)[: len(self.entries) - self.keep]:
                del self.entries[gone]
        self.dirty = True

    def refresh(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        top = dict(sorted(self.entries.items(), key=lambda kv: kv[1][0], reverse=True)[: self.k])
        for key in [k for k in self.shown if k not in top]:
            self.gauge.remove(*self.shown.pop(key))
        for key, (v, lab) in top.items():
            self.shown[key] = lab
            self.gauge.labels(*lab).set(v)
