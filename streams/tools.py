"""Operator and offline commands of `warwire`: tag, dedupe, rules test, ingest, the DLQ and
silences. They run the worker's own code on files or against the broker."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Iterator
from typing import IO

import orjson

from streams.core.spec import SpecError


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from streams.config import load_settings

    if getattr(args, "config", None):
        os.environ["WARWIRE_CONFIG"] = args.config
    return load_settings()


def cmd_ingest(args: argparse.Namespace) -> int:
    from streams import logs

    settings = _settings(args)
    logs.configure(settings.log_format)
    return asyncio.run(_ingest(settings, args.file))


async def _ingest(settings, path: str) -> int:  # type: ignore[no-untyped-def]
    """Publish NewsItems from JSONL to the raw topic (idempotent producer, keyed by item id);
    bad lines are reported with their line number and skipped."""
    from tqdm import tqdm

    from connectors.publish import Publisher
    from streams.schema import TOPIC_RAW
    from streams.topics import ensure_topics, wait_for_broker

    await wait_for_broker(settings.bootstrap)
    await ensure_topics(settings)
    total = sum(1 for _ in open(path, "rb")) if path != "-" else None  # noqa: SIM115
    publisher = Publisher(settings.bootstrap, settings.topic(TOPIC_RAW))
    await publisher.start()
    sent = bad = 0
    batch: list = []  # type: ignore[type-arg]
    try:
        for _, item in tqdm(_read_items(path), total=total, unit="item", file=sys.stderr, disable=None):
            if item is None:
                bad += 1
                continue
            batch.append(item)
            if len(batch) >= 500:
                await publisher.publish(batch)
                sent += len(batch)
                batch = []
        if batch:
            await publisher.publish(batch)
            sent += len(batch)
    finally:
        await publisher.stop()
    print(f"published {sent} item(s) to {settings.topic(TOPIC_RAW)}; {bad} bad line(s) skipped", file=sys.stderr)
    return 1 if bad else 0


def _read_items(path: str, labels: dict[int, list[str]] | None = None, key: str = "expect") -> Iterator[tuple[int, object]]:
    """(line number, NewsItem or None when the line is not one, reported). With `labels`, each
    line's `key` list (`expect`: the rules that should fire for it; `topics`: its gold topics) is
    collected there by line number."""
    from streams.schema import NewsItem, RecordError, decode

    stream: IO[bytes] = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    with stream:
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                item = decode(NewsItem, line)
            except RecordError as exc:
                print(f"{path}:{n}: {exc}", file=sys.stderr)
                yield n, None
                continue
            if labels is not None:
                gold = orjson.loads(line).get(key)
                if isinstance(gold, list):
                    labels[n] = [str(e) for e in gold]
            yield n, item


def _offline(args: argparse.Namespace, out_fn) -> int:  # type: ignore[no-untyped-def]
    from alerts.engine import compile_rules
    from alerts.loader import load_rules
    from streams.core.pipeline import MemoryState
    from streams.core.tagging import compile_taxonomy, load_taxonomy

    settings = _settings(args)
    tax = compile_taxonomy(load_taxonomy(args.taxonomy or settings.taxonomy))
    rules = compile_rules(load_rules(list(settings.rules), tax.spec.topic_ids)) if args.cmd == "rules" else None
    state = MemoryState()
    bad = 0
    for _, item in _read_items(args.file):
        if item is None:
            bad += 1
            continue
        now = item.published.timestamp() if item.published else time.time()  # type: ignore[attr-defined]
        res = state.run(item, tax, rules, now, settings.horizon_s)  # type: ignore[arg-type]
        sys.stdout.buffer.write(orjson.dumps(out_fn(res)) + b"\n")
    return 1 if bad else 0


def cmd_tag(args: argparse.Namespace) -> int:
    from streams.schema import to_builtins

    return _offline(args, lambda r: {"id": r.tagged.item.id, "topics": r.tagged.topics,
                                     "scores": r.tagged.scores,
                                     "matches": [to_builtins(m) for m in r.tagged.matches]})


def cmd_dedupe(args: argparse.Namespace) -> int:
    from streams.core import stories

    def out(r):  # type: ignore[no-untyped-def]
        line = {"id": r.tagged.item.id, "story": r.tagged.story, "duplicate_of": r.tagged.duplicate_of,
                "reason": r.tagged.duplicate_reason, "related_to": r.tagged.related_to, "outlets": r.tagged.outlets}
        if getattr(args, "explain", False):
            choice = r.decision.choice if r.decision is not None else None
            line["explain"] = {
                "decided_by": r.tagged.duplicate_reason or "new story",
                "score": r.decision.score if r.decision is not None else None,
                "join_at": stories.JOIN_P, "related_at": stories.RELATED_P,
                "candidates": [c.explain() for c in choice.candidates] if choice is not None else []}
        return line

    return _offline(args, out)


def _backtest(args: argparse.Namespace, topics: frozenset[str]) -> int:
    """`warwire rules test RULES --items FILE.jsonl`: run items through the worker's own
    dedupe, tagging and rule engine, in order, with each item's published time as `now`."""
    from collections import Counter

    from tqdm import tqdm

    from alerts.engine import compile_rules
    from alerts.loader import load_rules
    from alerts.offline import Offline
    from streams.core.pipeline import MemoryState
    from streams.core.tagging import compile_taxonomy, load_taxonomy

    settings = _settings(args)
    try:
        rules = compile_rules(load_rules(args.paths, topics))
    except SpecError as exc:
        return _report(exc)
    tax = compile_taxonomy(load_taxonomy(args.taxonomy or settings.taxonomy))
    total = sum(1 for _ in open(args.items, "rb")) if args.items != "-" else None  # noqa: SIM115
    state = MemoryState()
    offline = Offline(rules.rules)
    fired: Counter[str] = Counter()
    throttled: Counter[str] = Counter()
    bad = 0
    last = 0.0
    labels: dict[int, list[str]] = {}
    per_item: dict[int, set[str]] = {}
    bar = tqdm(_read_items(args.items, labels), total=total, unit="item", file=sys.stderr,
               disable=None if total and total >= 1000 else True)
    for n, item in bar:
        if item is None:
            bad += 1
            continue
        now = item.published.timestamp() if item.published else time.time()  # type: ignore[attr-defined]
        res = state.run(item, tax, rules, now, settings.horizon_s)  # type: ignore[arg-type]
        for rule, _reason in res.suppressed:
            throttled[rule] += 1
        shown, digests = offline.step(res.rule_events, res.alerts, now)
        per_item[n] = {a.rule for a in res.alerts}
        last = max(last, now)
        _print_alerts(args, item, shown + digests, fired)  # type: ignore[arg-type]
    if last:  # let digests that are still waiting go out, as the worker's ticks would
        wait = max((r.spec.group_wait_s or 0.0) for r in rules.rules)
        _print_alerts(args, None, offline.tick(last + wait + 1)[1], fired)
    print("\nsummary:" if not args.json else "summary:", file=sys.stderr if args.json else sys.stdout)
    out = sys.stderr if args.json else sys.stdout
    for r in rules.rules:
        quality = ""
        if labels:  # items that say which rules should fire for them (`expect`)
            tp = sum(1 for n, want in labels.items() if r.name in want and r.name in per_item.get(n, ()))
            fp = sum(1 for n, want in labels.items() if r.name not in want and r.name in per_item.get(n, ()))
            fn = sum(1 for n, want in labels.items() if r.name in want and r.name not in per_item.get(n, ()))
            p, rc = (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)
            quality = f"; precision {p:.3f}, recall {rc:.3f} on {len(labels)} labelled item(s) (tp {tp}, fp {fp}, fn {fn})"
        print(f"  {r.name}: {fired[r.name]} alert(s), {throttled[r.name]} throttled{quality}", file=out)
    return 1 if bad else 0


def _print_alerts(args: argparse.Namespace, item, alerts: list, fired) -> None:  # type: ignore[no-untyped-def]
    for alert in alerts:
        fired[alert.rule] += 1
        terms = ", ".join(sorted({m.term for m in alert.matches})) or "-"
        if args.json:
            print(orjson.dumps({"at": alert.fired_at.isoformat(), "rule": alert.rule, "severity": alert.severity,
                                "item": item.id if item else None, "story": alert.story, "outlets": alert.outlets,
                                "topics": alert.topics, "terms": sorted({m.term for m in alert.matches}),
                                "title": alert.title, "reason": alert.reason,
                                "digest": [e.title for e in alert.digest]}).decode())
        else:
            why = alert.reason or (f"topics {', '.join(alert.topics) or '-'}; terms {terms}; "
                                   f"{alert.outlets} outlet(s); story {alert.story}")
            print(f"{alert.fired_at:%Y-%m-%d %H:%M:%S}Z  {alert.rule} [{alert.severity}]  {alert.title}\n"
                  f"    why: {why}")
        for e in alert.digest:
            print(f"      - {e.title} ({e.source or '-'})")


def _report(exc: SpecError) -> int:
    """Print every error of a file, then their count; the exit code of a failed lint."""
    print(exc, file=sys.stderr)
    print(f"{len(exc.issues)} error(s)", file=sys.stderr)
    return 1


def cmd_alerts(args: argparse.Namespace) -> int:
    from alerts import dlq

    settings = _settings(args)
    if args.action == "list":
        lines = asyncio.run(dlq.list_dead_letters(settings))
        for line in lines:
            print(line)
        print(f"{len(lines)} dead letter(s) on {settings.topic('warwire.dlq')}", file=sys.stderr)
        return 0
    replayed, items, events, skipped = asyncio.run(dlq.replay_deliveries(settings, dry_run=args.dry_run))
    verb = "would replay" if args.dry_run else "replayed"
    print(f"{verb} {replayed} failed deliver{'y' if replayed == 1 else 'ies'}, {items} item(s) and {events} rule "
          f"event(s) a stage failed on; left {skipped} other dead letter(s) (records that are not valid, or were cut "
          "to fit the letter, are not replayed)")
    return 0


def cmd_silence(args: argparse.Namespace) -> int:
    from alerts import silence_store
    from alerts.silences import expired, new_silence
    from streams.core.spec import parse_duration

    settings = _settings(args)
    now = time.time()
    if args.action == "add":
        duration = parse_duration(args.duration or "")
        if duration is None:
            print(f"warwire silence add: --for needs a duration such as 30m, 2h or 1d, got {args.duration!r}",
                  file=sys.stderr)
            return 2
        try:
            s = new_silence(now, duration, rule=args.rule, topic=args.topic, source=args.source,
                            comment=args.comment or "", created_by=os.environ.get("USER", ""))
        except ValueError as exc:
            print(f"warwire silence add: {exc}", file=sys.stderr)
            return 2
        asyncio.run(silence_store.put(settings, s))
        print(s.id)
        return 0
    current = asyncio.run(silence_store.read_all(settings))
    if args.action == "list":
        shown = [s for s in current.values() if args.all or s.ends_at > now]
        for s in sorted(shown, key=lambda s: s.starts_at):
            state = "active" if s.active(now) else ("expired" if s.ends_at <= now else "pending")
            ends = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s.ends_at))
            print(f"{s.id}\t{state}\tuntil {ends}\t{s.describe()}\t{s.comment}")
        return 0
    if args.id not in current:
        print(f"warwire silence expire: no silence {args.id!r}", file=sys.stderr)
        return 1
    asyncio.run(silence_store.put(settings, expired(current[args.id], now)))
    print(f"expired {args.id}")
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    """`warwire feedback export`: the editors' actions from Slack as labelled JSONL."""
    from alerts.feedback import Feedback, export
    from streams.kafka import read_batches
    from streams.schema import TOPIC_FEEDBACK, RecordError, decode

    settings = _settings(args)

    async def read() -> list[Feedback]:
        out = []
        async for batch in read_batches(settings.bootstrap, settings.topic(TOPIC_FEEDBACK)):
            for r in batch:
                try:
                    out.append(decode(Feedback, r.value))
                except RecordError as exc:
                    print(f"warwire feedback export: {TOPIC_FEEDBACK}[{r.partition}]@{r.offset}: skipped: {exc}",
                          file=sys.stderr)
        return out

    lines = export(asyncio.run(read()), args.kind)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        for line in lines:
            out.write(orjson.dumps(line).decode() + "\n")
    finally:
        if args.output:
            out.close()
    print(f"warwire feedback export: {len(lines)} labelled {args.kind} line(s)", file=sys.stderr)
    return 0
