"""Would a learned second opinion lift the tagger? Measured on the dev splits only (issue 14).

    .venv/bin/python -m benchmarks.second_opinion [--folds 5] [--l2 1.0] [--with-rules]

A logistic regression per topic over the stems of an item's words (title words also as title
features; with --with-rules also the topics the rules gave and vetoed), trained by k-fold
cross-validation on the fresh dev split and the legacy dev split together (618 items): every
item is scored by a model that did not see it. The rules' own decision is then combined with the
score: a topic the rules gave is vetoed below `veto`, a topic they did not give is added at or
above `add`. It prints, per topic, the rules alone and each (veto, add) pair. The test splits
are not read. A veto or an addition is worth shipping only if some pair lifts precision without
costing recall here; see docs/quality.md for the run and what it showed.
"""

from __future__ import annotations

import argparse
import math
import random
from collections import Counter
from typing import Any

import numpy as np

from benchmarks.quality import ROOT, _item, load_jsonl
from benchmarks.tagging_eval import DEFAULT_PUBLISHED, load
from streams.core.tagcompile import _stemmer, uk_stem
from streams.core.tagging import compile_taxonomy, load_taxonomy, tag
from streams.core.text import normalize, tokens

VETOES = (0.0, 0.05, 0.1, 0.2, 0.3)
ADDS = (1.01, 0.9, 0.8, 0.7)  # 1.01: never add


def stemmer_for(lang: str) -> Any:
    if lang == "uk":
        return uk_stem
    s = _stemmer(lang)
    return s.stemWord if s else (lambda w: w)


def features(d: dict[str, Any], rules: Any, with_rules: bool) -> set[str]:
    stem = stemmer_for(d["lang"])
    out: set[str] = set()
    for prefix, text in (("t:", d.get("title") or ""), ("", d.get("summary") or "")):
        for w in tokens(normalize(text).text):
            if len(w) >= 3 and not w.isdigit():
                s = stem(w)
                out.add("w:" + s)
                if prefix:
                    out.add(prefix + s)
    if with_rules:
        out.update("rule:" + t for t in rules.topics)
        out.update("veto:" + t for t in rules.vetoed)
    return out


def fit(rows: list[tuple[set[str], set[str]]], topic: str, l2: float, epochs: int = 300,
        rate: float = 0.5) -> tuple[dict[str, float], float]:
    counts = Counter(f for fs, _ in rows for f in fs)
    vocab = sorted(f for f, n in counts.items() if n >= 2)
    index = {f: i for i, f in enumerate(vocab)}
    x = np.zeros((len(rows), len(vocab)))
    y = np.array([topic in want for _, want in rows], dtype=float)
    for r, (fs, _) in enumerate(rows):
        x[r, [index[f] for f in fs if f in index]] = 1.0
    w, b = np.zeros(len(vocab)), 0.0
    for _ in range(epochs):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        w -= rate * (x.T @ (p - y) + l2 * w) / len(rows)
        b -= rate * float(np.mean(p - y))
    return dict(zip(vocab, w.tolist(), strict=True)), b


def score(model: tuple[dict[str, float], float], fs: set[str]) -> float:
    weights, bias = model
    return 1.0 / (1.0 + math.exp(-(bias + sum(weights.get(f, 0.0) for f in fs))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--with-rules", action="store_true", help="the rules' topics and vetoes as features too")
    args = ap.parse_args()
    tax = compile_taxonomy(load_taxonomy(ROOT / "config" / "topics.yaml"))
    topics = sorted(tax.spec.topic_ids)
    legacy = [d for d in load_jsonl(ROOT / "tests" / "data" / "eval" / "tagging.jsonl") if d.get("split") == "dev"]
    data = []
    for d in load("dev") + legacy:
        rules = tag(tax, _item({"published": DEFAULT_PUBLISHED, **d}))
        data.append((features(d, rules, args.with_rules), set(rules.topics), set(d["topics"])))
    order = list(range(len(data)))
    random.Random(7).shuffle(order)
    scores = {t: [0.0] * len(data) for t in topics}
    for k in range(args.folds):
        train = [(data[i][0], data[i][2]) for j, i in enumerate(order) if j % args.folds != k]
        held = [i for j, i in enumerate(order) if j % args.folds == k]
        for t in topics:
            model = fit(train, t, args.l2)
            for i in held:
                scores[t][i] = score(model, data[i][0])
    print(f"== dev (fresh + legacy): {len(data)} items, {args.folds}-fold cross-validation, l2 {args.l2}"
          f"{', rules as features' if args.with_rules else ''}")
    for t in topics:
        print(t)
        for veto, add in [(None, None)] + [(v, a) for v in VETOES for a in ADDS]:
            tp = fp = fn = 0
            for i, (_, got, want) in enumerate(data):
                p = scores[t][i]
                given = t in got if veto is None else (p >= veto if t in got else p >= add)
                tp += given and t in want
                fp += given and t not in want
                fn += (not given) and t in want
            label = "rules alone" if veto is None else f"veto < {veto:.2f}, add >= {add:.2f}" if add <= 1 else \
                f"veto < {veto:.2f}, no add"
            print(f"  {label:28} tp {tp:3} fp {fp:2} fn {fn:2}  precision {tp / max(tp + fp, 1):.3f}"
                  f"  recall {tp / max(tp + fn, 1):.3f}")


if __name__ == "__main__":
    main()
