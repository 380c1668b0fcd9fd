"""warwire's settings: one YAML file (config/warwire.yaml), overridden by environment variables.

| setting             | YAML key                 | environment                | default                 |
|---------------------|--------------------------|----------------------------|-------------------------|
| broker              | broker                   | WARWIRE_BROKER             | "" (embedded)           |
| embedded port       | embedded.port            | WARWIRE_KAFKA_PORT         | 19092                   |
| embedded data dir   | embedded.data_dir        | WARWIRE_KAFKA_DATA         | var/kafka               |
| partitions          | partitions               | WARWIRE_PARTITIONS         | 4                       |
| replication factor  | replication_factor       | WARWIRE_REPLICATION_FACTOR | 1                       |
| worker state dir    | worker.data_dir          | WARWIRE_WORKER_DATA        | var/worker              |
| worker metrics port | worker.metrics_port      | WARWIRE_METRICS_PORT       | 9464 (0 = off)          |
| tagging processes   | worker.analyzers         | WARWIRE_ANALYZERS          | 1 (0 = in the worker)   |
| connector metrics   | connectors.metrics_port  | WARWIRE_CONNECT_METRICS_PORT | 9465 (0 = off)        |
| feed list           | connectors.feeds         | WARWIRE_FEEDS              | config/feeds.yaml       |
| WebSub callback URL | connectors.websub_callback | WARWIRE_WEBSUB_CALLBACK  | "" (WebSub off)         |
| WebSub port         | connectors.websub_port   | WARWIRE_WEBSUB_PORT        | 9466                    |
| internal networks a feed may redirect to | connectors.allow_networks | WARWIRE_ALLOW_NETWORKS (a,b) | none |
| taxonomy            | taxonomy                 | WARWIRE_TAXONOMY           | config/topics.yaml      |
| rule files          | rules                    | WARWIRE_RULES (a:b)        | [rules]                 |
| dedupe horizon      | dedupe.horizon           | WARWIRE_DEDUPE_HORIZON     | 7d                      |
| demo feed port      | demo.port                | WARWIRE_DEMO_PORT          | 8765                    |
| log format          | log.format               | WARWIRE_LOG_FORMAT         | console (or json)       |
| topic prefix        | topic_prefix             | WARWIRE_TOPIC_PREFIX       | "" (tests isolate runs) |

Relative paths are relative to the directory of the config file's parent project (the repo root
for config/warwire.yaml). Webhook URLs and secrets are never in this file: receivers name the
environment variables that hold them (rules/alerts.yaml).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from streams.core.spec import SpecError, SpecIssue, load_yaml, parse_duration

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config" / "warwire.yaml"


@dataclass(frozen=True, slots=True)
class Settings:
    broker: str = ""
    kafka_port: int = 19092
    kafka_data: Path = ROOT / "var" / "kafka"
    partitions: int = 4
    replication_factor: int = 1
    worker_data: Path = ROOT / "var" / "worker"
    metrics_port: int = 9464
    connect_metrics_port: int = 9465
    feeds: Path = ROOT / "config" / "feeds.yaml"
    websub_callback: str = ""
    websub_port: int = 9466
    allow_networks: tuple[str, ...] = ()  # CIDRs: internal networks a feed's redirect or hub may lead to
    taxonomy: Path = ROOT / "config" / "topics.yaml"
    rules: tuple[Path, ...] = (ROOT / "rules",)
    horizon_s: float = 7 * 86400.0
    analyzers: int = 1
    demo_port: int = 8765
    log_format: str = "console"
    topic_prefix: str = ""

    @property
    def embedded(self) -> bool:
        return not self.broker

    @property
    def bootstrap(self) -> str:
        return self.broker or f"127.0.0.1:{self.kafka_port}"

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    @property
    def state_ttl_s(self) -> float:
        """How long stage 2 keeps a key it no longer writes: the horizon plus a day (so a rule's
        default 24 h realert outlives its story's keys)."""
        return self.horizon_s + 86400.0


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from `path` (or WARWIRE_CONFIG, or config/warwire.yaml), then the environment."""
    env = os.environ if env is None else env
    cfg = Path(path or env.get("WARWIRE_CONFIG") or DEFAULT_CONFIG)
    s = Settings()
    if cfg.exists():
        s = _from_file(cfg, s)
    elif path is not None or env.get("WARWIRE_CONFIG"):
        raise SpecError([SpecIssue(str(cfg), 0, "", "config file not found")])
    return _from_env(env, s)


def _from_file(cfg: Path, s: Settings) -> Settings:
    base = cfg.resolve().parent.parent if cfg.resolve().parent.name == "config" else cfg.resolve().parent
    doc, root = load_yaml(cfg)

    def path(v: str) -> Path:
        p = Path(v)
        return p if p.is_absolute() else base / p

    kw: dict[str, object] = {}
    top = root.fields({"broker", "embedded", "partitions", "replication_factor", "worker", "connectors", "taxonomy",
                       "rules", "dedupe", "demo", "log", "topic_prefix"}) if root.value is not None else {}
    if top is None:
        doc.raise_if_any()
        return s
    if "broker" in top and top["broker"].value not in (None, ""):
        kw["broker"] = top["broker"].str()
    if "embedded" in top and (f := top["embedded"].fields({"port", "data_dir"})):
        if "port" in f:
            kw["kafka_port"] = f["port"].int(1, 65535)
        if "data_dir" in f and (v := f["data_dir"].str()):
            kw["kafka_data"] = path(v)
    if "partitions" in top:
        kw["partitions"] = top["partitions"].int(1, 256)
    if "replication_factor" in top:
        kw["replication_factor"] = top["replication_factor"].int(1, 16)
    if "worker" in top and (f := top["worker"].fields({"data_dir", "metrics_port", "analyzers"})):
        if "data_dir" in f and (v := f["data_dir"].str()):
            kw["worker_data"] = path(v)
        if "metrics_port" in f:
            kw["metrics_port"] = f["metrics_port"].int(0, 65535)
        if "analyzers" in f:
            kw["analyzers"] = f["analyzers"].int(0, 64)
    if "connectors" in top and (f := top["connectors"].fields({"feeds", "metrics_port", "websub_callback",
                                                                  "websub_port", "allow_networks"})):
        if "allow_networks" in f:
            kw["allow_networks"] = _cidrs(f["allow_networks"].strings(), f["allow_networks"].error)
        if "websub_callback" in f and f["websub_callback"].value:
            kw["websub_callback"] = f["websub_callback"].str()
        if "websub_port" in f:
            kw["websub_port"] = f["websub_port"].int(1, 65535)
        if "feeds" in f and (v := f["feeds"].str()):
            kw["feeds"] = path(v)
        if "metrics_port" in f:
            kw["connect_metrics_port"] = f["metrics_port"].int(0, 65535)
    if "taxonomy" in top and (v := top["taxonomy"].str()):
        kw["taxonomy"] = path(v)
    if "rules" in top:
        kw["rules"] = tuple(path(v) for v in top["rules"].strings())
    if "dedupe" in top and (f := top["dedupe"].fields({"horizon"})) and "horizon" in f:
        kw["horizon_s"] = f["horizon"].duration()
    if "demo" in top and (f := top["demo"].fields({"port"})) and "port" in f:
        kw["demo_port"] = f["port"].int(1, 65535)
    if "log" in top and (f := top["log"].fields({"format"})) and "format" in f:
        kw["log_format"] = f["format"].choice({"console", "json"})
    if "topic_prefix" in top:
        kw["topic_prefix"] = top["topic_prefix"].str() or ""
    doc.raise_if_any()
    return replace(s, **{k: v for k, v in kw.items() if v is not None})  # type: ignore[arg-type]


def _from_env(env: Mapping[str, str], s: Settings) -> Settings:
    issues: list[SpecIssue] = []
    kw: dict[str, object] = {}

    def integer(name: str, lo: int, hi: int) -> int | None:
        try:
            v = int(env[name])
        except ValueError:
            v = None
        if v is None or not lo <= v <= hi:
            issues.append(SpecIssue("environment", 0, name, f"expected a whole number in [{lo}, {hi}], got {env[name]!r}"))
            return None
        return v

    simple = {"WARWIRE_BROKER": "broker", "WARWIRE_TOPIC_PREFIX": "topic_prefix",
              "WARWIRE_WEBSUB_CALLBACK": "websub_callback"}
    for var, attr in simple.items():
        if var in env:
            kw[attr] = env[var].strip()
    ints = {"WARWIRE_KAFKA_PORT": ("kafka_port", 1, 65535), "WARWIRE_PARTITIONS": ("partitions", 1, 256),
            "WARWIRE_REPLICATION_FACTOR": ("replication_factor", 1, 16),
            "WARWIRE_METRICS_PORT": ("metrics_port", 0, 65535),
            "WARWIRE_CONNECT_METRICS_PORT": ("connect_metrics_port", 0, 65535),
            "WARWIRE_DEMO_PORT": ("demo_port", 1, 65535), "WARWIRE_WEBSUB_PORT": ("websub_port", 1, 65535),
            "WARWIRE_ANALYZERS": ("analyzers", 0, 64)}
    for var, (attr, lo, hi) in ints.items():
        if var in env:
            kw[attr] = integer(var, lo, hi)
    paths = {"WARWIRE_KAFKA_DATA": "kafka_data", "WARWIRE_WORKER_DATA": "worker_data",
             "WARWIRE_FEEDS": "feeds", "WARWIRE_TAXONOMY": "taxonomy"}
    for var, attr in paths.items():
        if env.get(var):
            kw[attr] = Path(env[var]).resolve()
    if "WARWIRE_ALLOW_NETWORKS" in env:
        kw["allow_networks"] = _cidrs([c for c in env["WARWIRE_ALLOW_NETWORKS"].split(",") if c.strip()],
                                      lambda m: issues.append(SpecIssue("environment", 0, "WARWIRE_ALLOW_NETWORKS", m)))
    if env.get("WARWIRE_RULES"):
        kw["rules"] = tuple(Path(p).resolve() for p in env["WARWIRE_RULES"].split(":") if p)
    if env.get("WARWIRE_DEDUPE_HORIZON"):
        kw["horizon_s"] = parse_duration(env["WARWIRE_DEDUPE_HORIZON"])
        if kw["horizon_s"] is None:
            issues.append(SpecIssue("environment", 0, "WARWIRE_DEDUPE_HORIZON", "expected a duration such as 7d"))
    if env.get("WARWIRE_LOG_FORMAT"):
        if env["WARWIRE_LOG_FORMAT"] not in ("console", "json"):
            issues.append(SpecIssue("environment", 0, "WARWIRE_LOG_FORMAT", "expected console or json"))
        kw["log_format"] = env["WARWIRE_LOG_FORMAT"]
    if issues:
        raise SpecError(issues)
    return replace(s, **{k: v for k, v in kw.items() if v is not None})  # type: ignore[arg-type]


def _cidrs(values: list[str], error: Callable[[str], None]) -> tuple[str, ...] | None:
    """Networks such as 10.0.0.0/8, checked; None (after `error`) when one is not a network."""
    for v in values:
        try:
            ipaddress.ip_network(v.strip(), strict=False)
        except ValueError as exc:
            error(f"'{v[:60]}' is not a network such as 10.0.0.0/8 ({exc})")
            return None
    return tuple(v.strip() for v in values)


def worker_id(value: str | None) -> str:
    """A worker's id (its state directory and static group member id): WARWIRE_WORKER_ID, "0"
    when unset, or the host's name for "auto" (each replica of a compose service has its own)."""
    import socket

    if not value:
        return "0"
    if value == "auto":
        return socket.gethostname()
    return value
