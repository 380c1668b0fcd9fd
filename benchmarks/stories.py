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
from datetime import datetime
from pathlib import Path

import msgspec
from ruamel.yaml import YAML

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

    def of_split(self, split: str) -> Corpus:
        if split == "all":
            return self
        keep = {i for i, s in self.split.items() if s == split}
        return Corpus([it for it in self.items if it.id in keep], self.kind, self.story, self.split, self.related,
                      [p for p in self.pairs if p.split == split])


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
    for kind, sids in groups.values():
        for s1, s2 in itertools.combinations(sids, 2):
            cross(s1, s2, kind)
    for sid, other in translations:
        cross(other, sid, "translation")
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["dev", "test", "all"], default=None)
    ap.add_argument("--counts", action="store_true", help="print the corpus's size per split and category")
    args = ap.parse_args()
    c = load()
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
