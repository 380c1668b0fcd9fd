"""Which terms alone decide labelled items: each term (or each term added since a commit) is
removed in turn, and the items it was needed for are listed. A term that decides exactly one
item is fitting, not generalising (docs/quality.md).

    .venv/bin/python -m benchmarks.term_audit [--since REV] [--splits dev,legacy]

The default splits are the fresh dev split and the legacy set's dev split; the test split is
for measuring, not for choosing terms.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess

from benchmarks.quality import ROOT, _item, load_jsonl
from benchmarks.tagging_eval import load
from streams.core.tagging import TaxonomySpec, TermSpec, compile_taxonomy, load_taxonomy, parse_taxonomy, tag

TAXONOMY = ROOT / "config" / "topics.yaml"


def _rows(splits: list[str]) -> list[dict]:  # type: ignore[type-arg]
    out: list[dict] = []  # type: ignore[type-arg]
    for sp in splits:
        if sp == "legacy":
            out += [d for d in load_jsonl(ROOT / "tests" / "data" / "eval" / "tagging.jsonl") if d.get("split") == "dev"]
        else:
            out += load(sp)
    return out


def _without(spec: TaxonomySpec, group: str, term: TermSpec) -> TaxonomySpec:
    def drop(t):  # type: ignore[no-untyped-def]
        return dataclasses.replace(t, terms=tuple(x for x in t.terms if x is not term)) if t.id == group else t
    return dataclasses.replace(spec, topics=tuple(drop(t) for t in spec.topics),
                               contexts=tuple(drop(t) for t in spec.contexts))


def audit(spec: TaxonomySpec, rows: list[dict], since: TaxonomySpec | None = None) -> list[tuple[str, str, str, list[str]]]:  # type: ignore[type-arg]
    """(topic or context, language, term, ids of the items only it gets right), for each term
    that decides at least one item; only terms not in `since`, when given."""
    old = {(t.id, x.lang, x.text) for t in (*since.topics, *since.contexts) for x in t.terms} if since else set()
    items = [(_item(d), set(d["topics"]), d["id"]) for d in rows]
    base = compile_taxonomy(spec)
    right = [i for i, (it, want, _) in enumerate(items) if set(tag(base, it).topics) == want]
    out = []
    for group in (*spec.topics, *spec.contexts):
        for term in group.terms:
            if (group.id, term.lang, term.text) in old:
                continue
            tax = compile_taxonomy(_without(spec, group.id, term))
            decided = [items[i][2] for i in right if set(tag(tax, items[i][0]).topics) != items[i][1]]
            if decided:
                out.append((group.id, term.lang, term.text, decided))
    return sorted(out, key=lambda r: (len(r[3]), r[0], r[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--since", help="audit only terms added since this commit (git revision)")
    ap.add_argument("--splits", default="dev,legacy")
    args = ap.parse_args()
    since = None
    if args.since:
        text = subprocess.run(["git", "show", f"{args.since}:config/topics.yaml"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
        since = parse_taxonomy(text)
    rows = _rows(args.splits.split(","))
    found = audit(load_taxonomy(TAXONOMY), rows, since)
    for group, lang, text, decided in found:
        print(f"{len(decided):3d}  {group:<22} {lang:<3} {text!r}: {', '.join(decided[:6])}")
    single = sum(1 for r in found if len(r[3]) == 1)
    print(f"{len(rows)} items; {len(found)} terms decide items; {single} decide exactly one (fitting)")


if __name__ == "__main__":
    main()
