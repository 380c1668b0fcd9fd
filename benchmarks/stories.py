"""Story clustering quality on the story corpus (tests/data/eval/stories/, issue 13).

    .venv/bin/python -m benchmarks.stories [--split dev|test|all] [--show-errors] [--json]

The corpus holds stories, each with the items different outlets wrote about it (see the folder's
README). Two measures, both through the worker's own `MemoryState` (the decide code the agents run):

- pairs: every two items of one story are duplicates, by category (`rewrite`: another outlet's own
  text; `video-article`: a video description against an article; `live-post`: a live-blog entry or
  a short channel post; `copy`); the items of a follow-up and the story it follows, of two stories
  in one look-alike group (`template`, `same-day`, `same-title`) and of a translation are not.
  Each pair is decided alone, in both orders (a→b and b→a must agree), and inside the stream.
- the stream: every item of the split in time order, clustered, scored with BCubed precision,
  recall and F1 against the labelled stories (Bagga & Baldwin 1998; Amigó et al. 2009).

Heavy rewrites are the `rewrite` and `video-article` pairs. Targets (issue 13, on the test split):
duplicates precision >= 0.95 and recall >= 0.90, heavy rewrites recall >= 0.85, BCubed F1 >= 0.92.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from ruamel.yaml import YAML

from benchmarks.quality import PR
from streams.schema import NewsItem

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "eval" / "stories"
HEAVY = ("rewrite", "video-article")
MAX_CROSS = 4  # negative pairs taken from two look-alike stories (their first items first)


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    duplicate: bool
    category: str
    split: str


@dataclass
class Corpus:
    items: list[NewsItem] = field(default_factory=list)
    kind: dict[str, str] = field(default_factory=dict)        # item id -> wire, rewrite, video, ...
    story: dict[str, str] = field(default_factory=dict)       # item id -> labelled story
    split: dict[str, str] = field(default_factory=dict)       # item id -> dev | test
    related: dict[str, str] = field(default_factory=dict)     # story -> the story it follows up
    pairs: list[Pair] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # stories that belong together in time

    def busy(self) -> Corpus:
        """The same corpus as one busy news day: every group of stories that belong together in
        time (a story, its follow-ups, its look-alikes) is moved, whole, to the same day, so that
        unrelated stories run at the same hours, as they do in a real stream."""
        parent: dict[str, str] = {}

        def root(s: str) -> str:
            while parent.get(s, s) != s:
                s = parent[s]
            return s

        for a, b in self.links:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[ra] = rb
        start: dict[str, datetime] = {}
        for it in self.items:
            r = root(self.story[it.id])
            if it.published and (r not in start or it.published < start[r]):
                start[r] = it.published
        base = datetime(2025, 1, 15, tzinfo=UTC)
        moved = []
        for it in self.items:
            s0 = start[root(self.story[it.id])]
            day0 = s0.replace(hour=0, minute=0, second=0, microsecond=0)
            moved.append(msgspec.structs.replace(it, published=base + (it.published - day0)))  # type: ignore[operator]
        moved.sort(key=lambda it: (it.published, it.id))
        return Corpus(moved, self.kind, self.story, self.split, self.related, self.pairs, self.links)

    def of_split(self, split: str) -> Corpus:
        if split == "all":
            return self
        keep = {i for i, s in self.split.items() if s == split}
        return Corpus([it for it in self.items if it.id in keep], self.kind, self.story, self.split, self.related,
                      [p for p in self.pairs if p.split == split], self.links)


def _category(ka: str, kb: str) -> str:
    kinds = {ka, kb}
    if "video" in kinds and kinds != {"video"}:
        return "video-article"
    if kinds & {"live", "post"}:
        return "live-post"
    if "copy" in kinds:
        return "copy"
    return "rewrite"


def load(folder: Path = CORPUS) -> Corpus:
    """Every story file of the folder, with the pairs derived from it (module docstring)."""
    yaml = YAML(typ="safe")
    c = Corpus()
    members: dict[str, list[str]] = {}
    groups: dict[str, tuple[str, list[str]]] = {}
    translations: list[tuple[str, str]] = []
    story_split: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        doc = yaml.load(path.read_text())
        split, lang = doc["split"], doc["lang"]
        for name, kind in (doc.get("groups") or {}).items():
            groups.setdefault(name, (kind, []))
        for s in doc["stories"]:
            sid = s["id"]
            story_split[sid] = split
            if s.get("group"):
                groups[s["group"]][1].append(sid)
            if s.get("related_to"):
                c.related[sid] = s["related_to"]
            if s.get("translation_of"):
                translations.append((sid, s["translation_of"]))
            members[sid] = []
            for d in s["items"]:
                item = msgspec.convert({
                    "id": d["id"], "title": d["title"], "summary": d.get("summary", ""), "lang": lang,
                    "source": d["outlet"], "url": d.get("url") or f"https://{d['outlet']}.example/{d['id']}",
                    "published": datetime.fromisoformat(d["at"].replace("Z", "+00:00")),
                    "labels": {"outlet": d["outlet"]}}, NewsItem)
                c.items.append(item)
                c.kind[item.id], c.story[item.id], c.split[item.id] = d["kind"], sid, split
                members[sid].append(item.id)
    c.items.sort(key=lambda it: (it.published, it.id))
    for sid, ids in members.items():
        for a, b in itertools.combinations(ids, 2):
            c.pairs.append(Pair(a, b, True, _category(c.kind[a], c.kind[b]), story_split[sid]))

    def cross(s1: str, s2: str, category: str) -> None:
        for a, b in list(itertools.product(members[s1], members[s2]))[:MAX_CROSS]:
            c.pairs.append(Pair(a, b, False, category, story_split[s1]))

    for sid, earlier in c.related.items():
        cross(earlier, sid, "follow-up")
        c.links.append((earlier, sid))
    for kind, sids in groups.values():
        for s1, s2 in itertools.combinations(sids, 2):
            cross(s1, s2, kind)
            c.links.append((s1, s2))
    for sid, other in translations:
        cross(other, sid, "translation")
    return c


@dataclass
class Score(PR):
    """benchmarks.quality's counts, plus the negatives kept apart."""

    tn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        super().add(predicted, actual)
        self.tn += not predicted and not actual


def _now(item: NewsItem) -> float:
    return item.published.timestamp() if item.published else 0.0


def _decider():  # type: ignore[no-untyped-def]
    from streams.core.pipeline import MemoryState
    from streams.core.tagging import compile_taxonomy, load_taxonomy
    tax = compile_taxonomy(load_taxonomy(ROOT / "config" / "topics.yaml"))
    return MemoryState, tax


def stream(c: Corpus) -> tuple[dict[str, str], dict[str, object]]:
    """Every item of `c` through one state in time order: item id -> story, and the tagged
    records (for --explain and related_to)."""
    memory_state, tax = _decider()
    st = memory_state()
    out, tagged = {}, {}
    for it in c.items:
        t = st.run(it, tax, None, _now(it)).tagged
        out[it.id], tagged[it.id] = t.story, t
    return out, tagged


def bcubed(gold: dict[str, str], predicted: dict[str, str]) -> tuple[float, float, float]:
    """BCubed precision, recall and F1 of a clustering (every item weighs the same)."""
    by_gold: dict[str, set[str]] = defaultdict(set)
    by_pred: dict[str, set[str]] = defaultdict(set)
    for i in predicted:
        by_gold[gold[i]].add(i)
        by_pred[predicted[i]].add(i)
    p = r = 0.0
    for i in predicted:
        g, q = by_gold[gold[i]], by_pred[predicted[i]]
        both = len(g & q)
        p += both / len(q)
        r += both / len(g)
    n = len(predicted) or 1
    p, r = p / n, r / n
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def pairs_alone(c: Corpus, pairs: list[Pair]) -> tuple[dict[Pair, bool], list[Pair]]:
    """Each pair decided on its own state, a then b, and b then a: the verdict of a→b, and the
    pairs whose two orders disagree."""
    memory_state, tax = _decider()
    by_id = {it.id: it for it in c.items}
    verdict, asymmetric = {}, []
    for p in pairs:
        out = []
        for first, second in ((p.a, p.b), (p.b, p.a)):
            st = memory_state()
            s1 = st.run(by_id[first], tax, None, _now(by_id[first])).tagged.story
            s2 = st.run(by_id[second], tax, None, _now(by_id[second])).tagged.story
            out.append(s1 == s2)
        verdict[p] = out[0]
        if out[0] != out[1]:
            asymmetric.append(p)
    return verdict, asymmetric


def evaluate(c: Corpus, show: bool = False) -> dict[str, object]:
    """Every figure of the module docstring for one corpus (a split, or all of it)."""
    predicted, tagged = stream(c)
    alone, asymmetric = pairs_alone(c, c.pairs)
    result: dict[str, object] = {}
    for mode, verdict in (("alone", alone), ("stream", {p: predicted[p.a] == predicted[p.b] for p in c.pairs})):
        total, heavy = Score(), Score()
        per: dict[str, Score] = defaultdict(Score)
        for p in c.pairs:
            total.add(verdict[p], p.duplicate)
            per[p.category].add(verdict[p], p.duplicate)
            if p.category in HEAVY or not p.duplicate:
                heavy.add(verdict[p], p.duplicate)
            if show and mode == "stream" and verdict[p] != p.duplicate:
                print(f"  {'missed' if p.duplicate else 'joined'} {p.category:<13} {p.a} ~ {p.b}")
        result[mode] = {
            "precision": round(total.precision, 3), "recall": round(total.recall, 3),
            "heavy_recall": round(heavy.recall, 3),
            "categories": {k: ({"recall": round(v.recall, 3), "found": v.tp, "of": v.tp + v.fn} if v.tp + v.fn
                               else {"kept_apart": v.tn, "of": v.tn + v.fp}) for k, v in sorted(per.items())}}
    gold = {i: c.story[i] for i in predicted}
    bp, br, bf = bcubed(gold, predicted)
    result["bcubed"] = {"precision": round(bp, 3), "recall": round(br, 3), "f1": round(bf, 3),
                        "singletons_f1": round(bcubed(gold, {i: i for i in predicted})[2], 3)}
    result["asymmetric_pairs"] = len(asymmetric)
    # Follow-ups: the first item of a labelled follow-up story should start a new story whose
    # related_to is the story its labelled earlier story was given; no other story should be linked.
    first_of: dict[str, str] = {}
    for it in c.items:
        first_of.setdefault(c.story[it.id], it.id)
    linked = wrong = 0
    for sid, first in first_of.items():
        rel = getattr(tagged[first], "related_to", None)
        earlier = c.related.get(sid)
        if earlier and earlier in first_of and rel == predicted[first_of[earlier]]:
            linked += 1
        elif rel and not (earlier and earlier in first_of):
            wrong += 1
    result["follow_ups"] = {"linked": linked, "of": sum(1 for s in first_of if c.related.get(s) in first_of),
                            "other_stories_linked": wrong}
    result["items"], result["stories"] = len(c.items), len(set(gold.values()))
    return result


def _print(split: str, r: dict) -> None:  # type: ignore[type-arg]
    print(f"== {split}: {r['items']} items, {r['stories']} stories")
    for mode in ("alone", "stream"):
        m = r[mode]
        print(f"pairs {mode:<6} P={m['precision']:.3f} R={m['recall']:.3f} heavy-rewrite R={m['heavy_recall']:.3f}")
        for k, v in m["categories"].items():
            if "found" in v:
                print(f"    same story  {k:<14} {v['found']:>3}/{v['of']:<3} R={v['recall']:.3f}")
            else:
                print(f"    not same    {k:<14} {v['kept_apart']:>3}/{v['of']:<3} kept apart")
    b = r["bcubed"]
    print(f"stream BCubed P={b['precision']:.3f} R={b['recall']:.3f} F1={b['f1']:.3f} "
          f"(every item alone: F1={b['singletons_f1']:.3f})")
    print(f"a→b and b→a disagree on {r['asymmetric_pairs']} pairs")
    f = r["follow_ups"]
    print(f"follow-ups linked to the story they follow: {f['linked']}/{f['of']}; other new stories linked: "
          f"{f['other_stories_linked']}")


FEATURES = ("text", "title", "names", "name_share", "values_agree", "values_conflict", "log_hours", "template",
            "place_conflict", "day_conflict", "cover")


def training_rows(c: Corpus) -> tuple[list[list[float]], list[int], dict[str, int]]:
    """Teacher-forced examples for the story decision: each item in time order is compared (by the
    story tier's own candidate search and features) with the labelled stories built so far, and
    then added to its own labelled story. One row per (item, candidate story); label 1 when the
    candidate is the item's story. Also how often the item's story was among the candidates."""
    from streams.core import dedupe, stories
    data: dict[str, bytes] = {}

    def get_many(keys):  # type: ignore[no-untyped-def]
        return [data.get(k) for k in keys]

    first: dict[str, str] = {}
    rows, labels = [], []
    found = {"had_story": 0, "retrieved": 0}
    for it in c.items:
        fp = dedupe.fingerprint(it)
        gold = c.story[it.id]
        sid = dedupe.story_id(first.setdefault(gold, it.id))
        ctx = stories.Context.read(fp.lang, fp.story_terms, _now(it), get_many)
        cands = ctx.compare(7 * 86400.0)
        if first[gold] != it.id:
            found["had_story"] += 1
            found["retrieved"] += any(cd.story == sid for cd in cands)
        for cd in cands:
            rows.append([getattr(cd.features, f) for f in FEATURES])
            labels.append(int(cd.story == sid))
        known = ctx.profile(sid)
        data.update(ctx.record(sid, first[gold], known))
    return rows, labels, found


def fit(c: Corpus, l2: float = 1.0) -> dict[str, float]:
    """Logistic regression (L2, full-batch Newton steps) on the teacher-forced rows of `c`, on its
    own timeline and as one busy day (`Corpus.busy`), so that time alone cannot decide."""
    import numpy as np
    rows, labels, found = training_rows(c)
    busy_rows, busy_labels, _ = training_rows(c.busy())
    rows, labels = rows + busy_rows, labels + busy_labels
    x = np.hstack([np.ones((len(rows), 1)), np.array(rows)])
    y = np.array(labels, dtype=float)
    w = np.zeros(x.shape[1])
    reg = l2 * np.eye(x.shape[1])
    reg[0, 0] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ w))
        grad = x.T @ (p - y) + reg @ w
        hess = x.T @ (x * (p * (1 - p))[:, None]) + reg
        w -= np.linalg.solve(hess, grad)
    print(f"fit on {len(rows)} (item, story) rows, {int(y.sum())} positive; the item's story was a candidate "
          f"{found['retrieved']}/{found['had_story']} times")
    return {"bias": round(float(w[0]), 2), **{f: round(float(v), 2) for f, v in zip(FEATURES, w[1:], strict=True)}}


def sweep(c: Corpus, weights: dict[str, float]) -> None:
    """The dev stream's figures at each join threshold, under `weights`."""
    from streams.core import stories
    saved = dict(stories.WEIGHTS), stories.JOIN_P
    stories.WEIGHTS.update(weights)
    try:
        for p in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7):
            stories.JOIN_P = p
            for name, corpus in (("timeline", c), ("busy day", c.busy())):
                r = evaluate(corpus)
                m, b = r["stream"], r["bcubed"]
                print(f"JOIN_P {p:.2f} {name}: pairs P={m['precision']:.3f} R={m['recall']:.3f} "  # type: ignore[index]
                      f"heavy R={m['heavy_recall']:.3f} BCubed F1={b['f1']:.3f}")  # type: ignore[index]
    finally:
        stories.WEIGHTS.clear()
        stories.WEIGHTS.update(saved[0])
        stories.JOIN_P = saved[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["dev", "test", "all"], default=None)
    ap.add_argument("--counts", action="store_true", help="print the corpus's size per split and category")
    ap.add_argument("--show-errors", action="store_true", help="list every pair the stream gets wrong")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    ap.add_argument("--fit", action="store_true", help="fit the story decision's weights on the dev split and "
                    "print them with the dev figures at each join threshold (never on test)")
    args = ap.parse_args()
    c = load()
    if args.fit:
        dev = c.of_split("dev")
        weights = fit(dev)
        print("WEIGHTS =", json.dumps(weights))
        sweep(dev, weights)
        return
    if not args.counts:
        out = {}
        for split in ([args.split] if args.split else ["dev", "test"]):
            out[split] = evaluate(c.of_split(split), args.show_errors)
            _print(split, out[split])
        if args.json:
            print(json.dumps(out))
        return
    if args.counts:
        for split in ("dev", "test"):
            sub = c.of_split(split)
            stories = {c.story[it.id] for it in sub.items}
            sizes = defaultdict(int)
            for it in sub.items:
                sizes[c.story[it.id]] += 1
            cats = defaultdict(int)
            for p in sub.pairs:
                cats[("dup " if p.duplicate else "non ") + p.category] += 1
            print(split, f"items {len(sub.items)} stories {len(stories)} 4+ outlets {sum(n >= 4 for n in sizes.values())}"
                  f" pairs {len(sub.pairs)}", json.dumps(dict(sorted(cats.items()))))


if __name__ == "__main__":
    main()
