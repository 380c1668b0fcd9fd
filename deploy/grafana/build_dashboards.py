"""Writes deploy/grafana/dashboards/*.json. Run it after changing a panel:
python deploy/grafana/build_dashboards.py. deploy/check_panels.py runs every expression against
a live warwire and Prometheus."""

from __future__ import annotations

import json
from pathlib import Path

DS = {"type": "prometheus", "uid": "prometheus"}
OUT = Path(__file__).resolve().parent / "dashboards"


def panel(pid: int, title: str, exprs: list[tuple[str, str]], x: int, y: int, w: int = 12, h: int = 8,
          kind: str = "timeseries", unit: str = "short", instant: bool = False, sort_desc: bool = False) -> dict:
    targets = [{"datasource": DS, "refId": chr(65 + i), "expr": e, "legendFormat": lf,
                "instant": instant, "range": not instant, **({"format": "table"} if kind == "table" else {})}
               for i, (e, lf) in enumerate(exprs)]
    return {"id": pid, "type": kind, "title": title, "datasource": DS, "targets": targets,
            "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"sortBy": [{"displayName": "Value", "desc": True}]} if sort_desc else {}}


def dashboard(uid: str, title: str, panels: list[dict]) -> dict:
    return {"uid": uid, "title": title, "tags": ["warwire"], "timezone": "utc", "schemaVersion": 39,
            "version": 1, "refresh": "30s", "time": {"from": "now-6h", "to": "now"}, "editable": True,
            "panels": panels, "templating": {"list": []}, "annotations": {"list": []}}


NEWSROOM = dashboard("warwire-newsroom", "warwire: newsroom", [
    panel(1, "Items per topic (per 5 min)", [("sum by (topic) (increase(warwire_tagging_items_total[5m]))", "{{topic}}")], 0, 0),
    panel(2, "Alerts by rule (per hour)", [("sum by (rule, severity) (increase(warwire_alerts_fired_total[1h]))", "{{rule}} ({{severity}})")], 12, 0),
    # No rank label (every reordering would be a new series): the tables sort by value.
    panel(3, "Top stories by outlet count", [("max by (title, story) (warwire_story_top_outlets)", "")], 0, 8,
          kind="table", instant=True, sort_desc=True),
    panel(4, "Latest alerts", [("max by (alert, rule, severity, title) (warwire_alert_latest_timestamp_seconds) * 1000", "")],
          12, 8, kind="table", unit="dateTimeAsIso", instant=True, sort_desc=True),
    panel(5, "New stories and duplicates (items/s)", [("sum by (outcome) (rate(warwire_pipeline_items_total[5m]))", "{{outcome}}")],
          0, 16, w=24, unit="ops"),
])

OPERATORS = dashboard("warwire-operators", "warwire: operators", [
    panel(1, "Feed fetches by outcome", [("sum by (feed, outcome) (rate(warwire_connector_fetches_total[5m]))", "{{feed}} {{outcome}}")],
          0, 0, unit="ops"),
    panel(2, "Seconds since last successful fetch", [("time() - warwire_connector_last_success_timestamp_seconds", "{{feed}}")],
          12, 0, unit="s"),
    panel(3, "Feed health (1 = healthy)", [("warwire_connector_feed_healthy", "{{feed}}")], 0, 8, kind="stat"),
    panel(4, "Parse errors (per hour)", [("sum by (feed, kind) (increase(warwire_connector_parse_errors_total[1h])) or vector(0)", "{{feed}} {{kind}}")],
          12, 8),
    panel(5, "Throughput per stage (items/s)", [("sum by (stage) (rate(warwire_pipeline_stage_items_total[5m]))", "{{stage}}"),
                                                ("sum(rate(warwire_connector_items_published_total[5m]))", "published")],
          0, 16, unit="ops"),
    panel(6, "Dedupe ratio (duplicates / items)", [(
        "sum(increase(warwire_pipeline_items_total{outcome=\"duplicate\"}[1h])) / clamp_min(sum(increase(warwire_pipeline_items_total[1h])), 1)",
        "duplicates")], 12, 16, unit="percentunit"),
    panel(7, "Consumer lag by topic", [(
        "sum by (topic) (warwire_consumer_end_offset - warwire_consumer_committed_offset)", "{{topic}}")],
          0, 24),
    panel(8, "Deliveries by receiver and outcome", [("sum by (receiver, outcome) (rate(warwire_delivery_attempts_total[5m]))", "{{receiver}} {{outcome}}")],
          12, 24, unit="ops"),
    panel(9, "Delivery latency p95", [(
        "histogram_quantile(0.95, sum by (le, receiver) (rate(warwire_delivery_latency_seconds_bucket[15m])))", "{{receiver}}")],
          0, 32, unit="s"),
    panel(10, "Delivery retries and dead letters", [
        ("sum by (receiver) (increase(warwire_delivery_attempts_total{outcome=\"retry\"}[1h])) or vector(0)", "retries {{receiver}}"),
        ("sum by (stage) (increase(warwire_dlq_records_total[1h])) or vector(0)", "dead-lettered {{stage}}")], 12, 32),
    panel(11, "Process CPU (cores)", [("rate(process_cpu_seconds_total{job=~\"warwire.*\"}[1m])", "{{job}}")], 0, 40),
    panel(12, "Process memory (resident)", [("process_resident_memory_bytes{job=~\"warwire.*\"}", "{{job}}")], 12, 40, unit="bytes"),
    panel(13, "Active taxonomy and rule-set versions", [("warwire_config_info == 1", "{{kind}} {{version}}")], 0, 48, w=24,
          kind="table", instant=True),
])

if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, d in (("newsroom", NEWSROOM), ("operators", OPERATORS)):
        (OUT / f"{name}.json").write_text(json.dumps(d, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {OUT / name}.json ({len(d['panels'])} panels)")
