"""`warwire taxonomy lint|eval`: the operator's checks of a taxonomy, on the worker's own code.

    warwire taxonomy lint [FILE]                    errors (exit 1), warnings (short stems or prefixes, acronyms, shadowing)
    warwire taxonomy eval ITEMS.jsonl [--taxonomy FILE] [--min-precision P] [--min-recall R] [--show-errors]

`eval` reads NewsItem JSONL whose lines carry the gold `topics` and prints precision and recall
per topic; with --show-errors every wrong item, with the terms and spans that fired (or the
context that vetoed a topic). Exit 1 when a topic falls below --min-precision / --min-recall.
"""

from __future__ import annotations

import argparse
import sys


def cmd_taxonomy(args: argparse.Namespace) -> int:
    from streams.config import load_settings
    from streams.core.spec import SpecError
    from streams.core.tagging import load_taxonomy

    settings = load_settings(args.config)
    path = args.taxonomy or (args.file if args.action == "lint" else None) or str(settings.taxonomy)
    try:
        spec = load_taxonomy(path)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        print(f"{len(exc.issues)} error(s)", file=sys.stderr)
        return 1
    if args.action == "lint":
        from streams.core.taxonomy_lint import lint

        warnings = lint(spec, path)
        for w in warnings:
            print(w, file=sys.stderr)
        terms = sum(len(t.terms) for t in spec.topics)
        print(f"ok: {len(spec.topics)} topic(s), {len(spec.contexts)} context(s), {terms} term(s), "
              f"{len(warnings)} warning(s), version {spec.version}")
        return 0
    if not args.file:
        print("warwire taxonomy eval: ITEMS.jsonl is required", file=sys.stderr)
        return 2
    return _eval(args, spec)


def _eval(args: argparse.Namespace, spec) -> int:  # type: ignore[no-untyped-def]
    from streams.core.tagging import compile_taxonomy, tag
    from streams.tools import _read_items

    tax = compile_taxonomy(spec)
    topics = sorted(spec.topic_ids)
    counts = {t: [0, 0, 0] for t in topics}  # tp, fp, fn
    bad = 0
    labels: dict[int, list[str]] = {}
    for n, item in _read_items(args.file, labels, key="topics"):
        if item is None:
            bad += 1
            continue
        if n not in labels:
            print(f"{args.file}:{n}: no `topics` list: not counted", file=sys.stderr)
            continue
        res = tag(tax, item)
        got, want = set(res.topics), set(labels[n])
        for t in topics:
            c = counts[t]
            c[0] += t in got and t in want
            c[1] += t in got and t not in want
            c[2] += t in want and t not in got
        if args.show_errors and got != want:
            fired = "; ".join(f"{m.topic}: '{m.term}' at {m.field}[{m.start}:{m.end}]" for m in res.matches)
            vetoed = "; ".join(f"{t} vetoed by context {c}" for t, c in res.vetoed.items())
            print(f"{args.file}:{n}: {item.id}: want {sorted(want)} got {sorted(got)}"  # type: ignore[attr-defined]
                  f"{' · ' + fired if fired else ''}{' · ' + vetoed if vetoed else ''}\n    {item.title}")  # type: ignore[attr-defined]
    labelled = len(labels)
    failing = []
    print(f"{labelled} labelled item(s), taxonomy {spec.version}")
    for t, (tp, fp, fn) in counts.items():
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 1.0
        below = (args.min_precision is not None and p < args.min_precision) or (
            args.min_recall is not None and r < args.min_recall)
        failing += [t] if below else []
        print(f"{t:<28} precision {p:.3f}  recall {r:.3f}  (tp {tp}, fp {fp}, fn {fn}){'  BELOW' if below else ''}")
    return 1 if failing or bad else 0


def add_parser(sub) -> None:  # type: ignore[no-untyped-def]
    ta = sub.add_parser("taxonomy", help="check a taxonomy (lint) or measure it on labelled items (eval)",
                        description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ta.add_argument("action", choices=["lint", "eval"])
    ta.add_argument("file", nargs="?", help="lint: the taxonomy (default: the taxonomy setting); eval: ITEMS.jsonl")
    ta.add_argument("--taxonomy", help="with eval: the taxonomy to measure (default: the taxonomy setting)")
    ta.add_argument("--min-precision", type=float, help="with eval: exit 1 when a topic's precision is below this")
    ta.add_argument("--min-recall", type=float, help="with eval: exit 1 when a topic's recall is below this")
    ta.add_argument("--show-errors", action="store_true", help="with eval: every wrong item, with what fired")
    ta.set_defaults(fn=cmd_taxonomy)
