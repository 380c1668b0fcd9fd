"""The `warwire` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from streams.core.spec import SpecError
from streams.tools import (
    _backtest,
    _report,
    _settings,
    cmd_alerts,
    cmd_dedupe,
    cmd_feedback,
    cmd_ingest,
    cmd_silence,
    cmd_tag,
)

HELP = """warwire: a stream-processing monitor for war news.

Flow: feeds → connectors → warwire.raw → tag → warwire.analyzed → dedupe, stories, rules →
warwire.alerts → one delivery lane per receiver → Slack, webhooks, console.
Settings: config/warwire.yaml, overridden by WARWIRE_* environment variables (README, "Configuration").
"""


def cmd_run(args: argparse.Namespace) -> int:
    from streams import logs, supervisor

    settings = _settings(args)
    logs.configure(settings.log_format)
    return asyncio.run(supervisor.run(settings, demo=args.demo, duration_s=args.duration))


def cmd_worker(args: argparse.Namespace) -> int:
    from streams import worker

    _settings(args)
    worker.main(args.loglevel)
    return 0


def cmd_connect(args: argparse.Namespace) -> int:
    from streams import logs

    settings = _settings(args)
    logs.configure(settings.log_format)
    return asyncio.run(_connect(settings, args.demo_url or os.environ.get("WARWIRE_DEMO_URL")))


async def _connect(settings, demo_url: str | None) -> int:  # type: ignore[no-untyped-def]
    import signal

    from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

    from connectors.core.addresses import networks
    from connectors.feeds import load_feeds
    from connectors.fetch import Fetcher
    from connectors.ownership import FeedOwnership
    from connectors.poller import ConnectorMetrics, Poller
    from connectors.publish import Publisher
    from connectors.state import load_states
    from streams import logs
    from streams.http import serve
    from streams.schema import TOPIC_FEED_HEALTH, TOPIC_FEED_STATE, TOPIC_FEEDS, TOPIC_RAW
    from streams.topics import BrokerProbe, ensure_topics, wait_for_broker

    log = logs.get("warwire.connect")

    feeds = load_feeds(settings.feeds, {"demo": demo_url} if demo_url else None)
    await wait_for_broker(settings.bootstrap)
    await ensure_topics(settings)
    metrics = ConnectorMetrics(CollectorRegistry())
    ProcessCollector(registry=metrics.registry)
    PlatformCollector(registry=metrics.registry)
    probe = BrokerProbe(settings.bootstrap)
    probe_task = asyncio.create_task(probe.run())
    publisher = Publisher(settings.bootstrap, settings.topic(TOPIC_RAW), settings.topic(TOPIC_FEED_HEALTH))
    await publisher.start()
    http = await serve(metrics.registry, {"broker": probe.reason,
                                          "feeds": lambda: None if feeds else "no enabled feeds"},
                       settings.connect_metrics_port)
    fetcher = Fetcher(allow_networks=networks(settings.allow_networks))
    state_topic = settings.topic(TOPIC_FEED_STATE)
    poller = Poller(feeds, fetcher, publisher, metrics, None, state_topic)
    owner = FeedOwnership(poller, settings.bootstrap, settings.topic(TOPIC_FEEDS), settings.topic("warwire-connect"),
                          settings.partitions, lambda: load_states(settings.bootstrap, state_topic))
    websub = None
    renew = None
    if settings.websub_callback:
        from connectors.websub import WebSub

        websub = WebSub(poller, settings.websub_callback, settings.websub_port)
        await websub.start()
        poller.websub = websub
        renew = asyncio.create_task(websub.renew_forever())
    log.info("connectors_started", feeds=len(poller.feeds), group=settings.topic("warwire-connect"),
             websub=settings.websub_callback or None)
    task = asyncio.create_task(owner.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        probe_task.cancel()
        if renew is not None:
            renew.cancel()
        if websub is not None:
            await websub.stop()
        if http is not None:
            await http.cleanup()
        await fetcher.close()
        await poller.parser.close()
        await publisher.stop()
    return 0


def cmd_kafka(args: argparse.Namespace) -> int:
    from streams import supervisor

    settings = _settings(args)
    if args.port:
        os.environ["WARWIRE_KAFKA_PORT"] = str(args.port)
    if args.data:
        os.environ["WARWIRE_KAFKA_DATA"] = args.data
    from streams.config import load_settings

    settings = load_settings()
    return supervisor.kafka_script(args.action, settings)


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.topics import ensure_topics, wait_for_broker

    settings = _settings(args)
    asyncio.run(wait_for_broker(settings.bootstrap, args.wait))
    topics = asyncio.run(ensure_topics(settings))
    for name, n in sorted(topics.items()):
        print(f"{name}\t{n} partitions")
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from alerts.loader import load_rules
    from streams.core.tagging import load_taxonomy

    if args.action == "test" and not args.items:
        print("warwire rules test: --items FILE.jsonl is required", file=sys.stderr)
        return 2
    settings = _settings(args)
    try:
        topics = load_taxonomy(args.taxonomy or settings.taxonomy).topic_ids
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.action == "lint":
        try:
            spec = load_rules(args.paths, topics)
        except SpecError as exc:
            return _report(exc)
        print(f"ok: {len(spec.rules)} rule(s), {len(spec.receivers)} receiver(s), version {spec.version}")
        return 0
    return _backtest(args, topics)


def cmd_feeds(args: argparse.Namespace) -> int:
    from connectors.feeds import load_feeds

    settings = _settings(args)
    path = args.file or str(settings.feeds)
    try:
        feeds = load_feeds(path, {"demo": "http://127.0.0.1:8765"})
    except SpecError as exc:
        return _report(exc)
    print(f"ok: {len(feeds)} feed(s) in {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="warwire", description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="settings file (default: config/warwire.yaml, or $WARWIRE_CONFIG)")
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="run the whole pipeline (starts its own Kafka when no broker is configured)",
                       description="Run broker (embedded default), feed connectors, stream worker and metrics "
                                   "endpoints as one process tree. SIGINT/SIGTERM stop everything.")
    r.add_argument("--demo", action="store_true",
                   help="serve the bundled sample feeds on 127.0.0.1 (no internet needed) and start from empty state")
    r.add_argument("--duration", type=float, metavar="SECONDS", help="stop by itself after this long")
    r.set_defaults(fn=cmd_run)

    w = sub.add_parser("worker", help="run one stream worker (faust): tag → dedupe → rules → delivery")
    w.add_argument("--loglevel", default="info")
    w.set_defaults(fn=cmd_worker)

    c = sub.add_parser("connect", help="run the feed connectors: poll feeds, publish to warwire.raw")
    c.add_argument("--demo-url", help="base URL substituted for {demo} in the feed list")
    c.set_defaults(fn=cmd_connect)

    k = sub.add_parser("kafka", help="the project's own single-node Kafka (deploy/kafka/kafka.sh)")
    k.add_argument("action", choices=["start", "stop", "status"])
    k.add_argument("--port", type=int, help="broker port (default: embedded.port, 19092)")
    k.add_argument("--data", help="data directory (default: embedded.data_dir, var/kafka)")
    k.set_defaults(fn=cmd_kafka)

    tp = sub.add_parser("topics", help="create the pipeline's topics on the configured broker (idempotent)",
                        description="Create missing pipeline topics with `partitions` partitions and "
                                    "`replication_factor` replicas; fail if existing ones have another count.")
    tp.add_argument("--wait", type=float, default=60.0, metavar="SECONDS", help="how long to wait for the broker")
    tp.set_defaults(fn=cmd_topics)

    for name, fn, what in (("tag", cmd_tag, "tag NewsItem JSONL offline: one line per item with id, topics, matches"),
                           ("dedupe", cmd_dedupe, "dedupe NewsItem JSONL offline, in order: id, story, duplicate_of, "
                                                  "reason, related_to")):
        t = sub.add_parser(name, help=what)
        t.add_argument("file", nargs="?", default="-", help="JSONL file, or - for standard input")
        t.add_argument("--taxonomy", help="taxonomy file (default: config/topics.yaml)")
        if name == "dedupe":
            t.add_argument("--explain", action="store_true",
                           help="also print, per item, each candidate story the story tier compared it with: "
                                "every feature, what it added to the score, and the probability")
        t.set_defaults(fn=fn)

    ru = sub.add_parser("rules", help="check rule files, or backtest them on items, with the worker's own code",
                        description="lint: every error of the rule files, exit 1 if any. test: run NewsItem JSONL "
                                    "(--items) through dedupe, tagging and the rules in order, and print which alerts "
                                    "would fire, when and why, then a summary per rule (with precision and recall "
                                    "when items carry `expect: [rule names]`).")
    ru.add_argument("action", choices=["lint", "test"])
    ru.add_argument("paths", nargs="+", help="rule files or directories")
    ru.add_argument("--items", help="with test: NewsItem JSONL file (or - for standard input)")
    ru.add_argument("--json", action="store_true", help="with test: one JSON object per alert")
    ru.add_argument("--taxonomy", help="taxonomy whose topics rules may name")
    ru.set_defaults(fn=cmd_rules)

    ig = sub.add_parser("ingest", help="publish NewsItems from a JSONL file to warwire.raw (backfills, tests)")
    ig.add_argument("file", help="JSONL file, or - for standard input")
    ig.set_defaults(fn=cmd_ingest)

    al = sub.add_parser("alerts", help="the dead-letter topic: list it, replay deliveries, items and rule events that failed")
    al.add_argument("what", choices=["dlq"])
    al.add_argument("action", choices=["list", "replay"],
                    help="list: every dead letter with stage, source and reason; replay: publish the alerts of "
                         "failed and ambiguous deliveries again (receivers that already have them are skipped), "
                         "the items a stage failed on to warwire.raw, and the rule events the aggregate stage "
                         "failed on to warwire.rule-events")
    al.add_argument("--dry-run", action="store_true", help="with replay: count, do not publish")
    al.set_defaults(fn=cmd_alerts)

    si = sub.add_parser("silence", help="mute alerts for a while, by rule, topic or source (kept in Kafka)")
    si.add_argument("action", choices=["add", "list", "expire"])
    si.add_argument("id", nargs="?", help="with expire: the silence id")
    si.add_argument("--rule", help="with add: only this rule's alerts")
    si.add_argument("--topic", help="with add: only alerts carrying this topic")
    si.add_argument("--source", help="with add: only alerts from this source")
    si.add_argument("--for", dest="duration", metavar="DURATION", help="with add: how long, e.g. 30m, 2h, 1d")
    si.add_argument("--comment", help="with add: why (shown by list)")
    si.add_argument("--all", action="store_true", help="with list: include expired silences")
    si.set_defaults(fn=cmd_silence)

    fb = sub.add_parser("feedback", help="export the editors' actions from Slack as labelled JSONL",
                        description="Reads warwire.feedback (the buttons on slack-app messages: docs/slack.md). "
                                    "--kind topics: items with `topics` (the alert's topics less those editors marked "
                                    "wrong), as `warwire taxonomy eval` reads them; --kind stories: pairs "
                                    "{a, b, duplicate: false} in the format of tests/data/eval/duplicates.jsonl.")
    fb.add_argument("action", choices=["export"])
    fb.add_argument("--kind", choices=["topics", "stories"], default="topics")
    fb.add_argument("-o", "--output", help="write here instead of stdout")
    fb.set_defaults(fn=cmd_feedback)

    from streams.taxonomy_cli import add_parser as add_taxonomy

    add_taxonomy(sub)

    fe = sub.add_parser("feeds", help="check a feed list")
    fe.add_argument("action", choices=["lint"])
    fe.add_argument("file", nargs="?", help="feed list (default: connectors.feeds setting)")
    fe.set_defaults(fn=cmd_feeds)
    return p


def main(argv: list[str] | None = None) -> int:
    from streams.kafka import MissingTopic

    args = parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 2
    except MissingTopic as exc:  # a topic the command reads is missing (streams.kafka.partitions_of)
        print(f"warwire {args.cmd}: {exc}; create the topics with `warwire topics` or start a worker",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
