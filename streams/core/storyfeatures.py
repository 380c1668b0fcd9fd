"""How an item compares with one story (streams/core/stories.py decides with it): the eleven
features of the story tier's logistic model, their weights (fitted on the dev split by
`python -m benchmarks.stories --fit`), and the similarity arithmetic over stems, names and
figures. Pure."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

from streams.core.places import places_conflict
from streams.core.profiles import PRIOR_BUCKETS, Profile, _Read, _spread, as_read
from streams.core.storyterms import StoryTerms

# The decision: logit = bias + Σ weight × feature; join when the probability >= JOIN_P.
# Fitted by `python -m benchmarks.stories --fit` on the dev split (see docs/quality.md).
WEIGHTS: dict[str, float] = {
    "bias": -3.06, "text": 3.08, "title": 0.3, "names": 3.98, "name_share": 2.06,
    "values_agree": 3.15, "values_conflict": -3.45, "log_hours": -2.84, "template": -2.49,
    "place_conflict": -1.96, "day_conflict": -1.08, "cover": 2.49,
}


@dataclass(frozen=True, slots=True)
class Features:
    """How an item compares with one story (every value is explained in `explain`)."""

    text: float           # TF-IDF cosine of the item's stems with the story's centroid
    title: float          # the same for the title's stems against the story's title stems
    names: float          # IDF-weighted cosine of names
    name_share: float     # weighted Jaccard of names: shared weight over the weight of either's
    values_agree: float   # figures the item shares with the story (1, 2, 3 or more: 1/3, 2/3, 1)
    values_conflict: float  # both give figures and none agree: the smaller count (1, 2, 3+: 1/3 … 1)
    log_hours: float      # ln(1 + h / 12) for the h hours between the item and the story's span
    template: float       # values_conflict × text: the same words with other figures is another
                          # report from one template (a daily tally), not the same story
    place_conflict: float  # both name places (streams/core/places.py) and share none
    day_conflict: float   # both name weekdays and share none
    cover: float = 0.0    # IDF-weighted share of the smaller side's terms the other has: a short
                          # video description or channel post wholly inside a long article's story

    def logit(self) -> float:
        w = WEIGHTS
        return (w["bias"] + w["text"] * self.text + w["title"] * self.title + w["names"] * self.names
                + w["name_share"] * self.name_share + w["values_agree"] * self.values_agree
                + w["values_conflict"] * self.values_conflict + w["log_hours"] * self.log_hours
                + w["template"] * self.template + w["place_conflict"] * self.place_conflict
                + w["day_conflict"] * self.day_conflict + w["cover"] * self.cover)

    def probability(self) -> float:
        return _sigmoid(self.logit())

    def content_probability(self) -> float:
        """The probability without the evidence of time and figures: how far the two speak of the
        same thing, which a follow-up (later, with new figures) still does."""
        w = WEIGHTS
        return _sigmoid(w["bias"] + w["text"] * self.text + w["title"] * self.title + w["names"] * self.names
                        + w["name_share"] * self.name_share + w["cover"] * self.cover)

    def as_dict(self) -> dict[str, float]:
        return {k: round(getattr(self, k), 3) for k in self.__slots__}  # type: ignore[attr-defined]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


class ItemView:
    """The item's side of every comparison, computed once per item: its TF-IDF vectors (stems,
    title, names) and their norms under the item's weights."""

    __slots__ = ("idf", "x", "x_norm", "x_mass", "xt", "xt_norm", "xn", "xn_norm", "xn_sum")

    def __init__(self, item: StoryTerms, idf: dict[int, float]) -> None:
        self.idf = idf
        log = math.log
        self.x = {t: (1.0 + log(c)) * idf[t] for t, c in zip(item.terms, item.counts, strict=True) if c > 0}
        self.xt = {t: idf[t] for t in item.title}
        self.xn = {n: idf[n] for n in item.names}
        self.x_norm = math.sqrt(sum(w * w for w in self.x.values()))
        self.xt_norm = math.sqrt(sum(w * w for w in self.xt.values()))
        self.xn_norm = math.sqrt(sum(w * w for w in self.xn.values()))
        self.xn_sum = sum(self.xn.values())
        self.x_mass = sum(idf[t] for t in self.x)


def _cosine_with(vec: dict[int, float], vec_norm: float, known: dict[int, float] | dict[int, int],
                 base: Sequence[float], idf: dict[int, float], once2: Sequence[float], classes: dict[int, int]) -> float:
    """Cosine of the item's vector `vec` with a profile field (`known`: term → count) weighted
    (1 + ln c) × idf, where a term the item has no weight for weighs `once[its class]`
    (`once2`: those weights squared).

    Only the profile's terms the item has a weight for are visited: the others' part of the norm
    is Σ over classes of once[k]² × base[k], where base[k] is the field's Σ (1 + ln c)² over its
    terms of class k (`Profile.spread`), less what the visited terms put there."""
    if not vec or not known or vec_norm == 0.0:
        return 0.0
    log = math.log
    dot = inner = 0.0
    for t in known.keys() & idf.keys():
        c = known[t]
        if c <= 0:
            continue
        scale = 1.0 + log(c)
        s2 = scale * scale
        weight = idf[t]
        inner += s2 * (weight * weight - once2[classes[t]])
        v = vec.get(t)
        if v is not None:
            dot += scale * weight * v
    if dot == 0.0:
        return 0.0
    norm2 = inner + sum(map(operator.mul, once2, base))
    return min(1.0, dot / (vec_norm * math.sqrt(norm2))) if norm2 > 0 else 0.0


def _mass(terms: dict[int, float] | dict[int, int], per_class: Sequence[float], idf: dict[int, float],
          once: Sequence[float], classes: dict[int, int]) -> float:
    """Σ of the weights of a profile field's terms (each counted once): the ones the item has a
    weight for as they are, the others as `once[class]` from the field's count per class."""
    total = sum(map(operator.mul, once, per_class))
    for t in idf.keys() & terms:
        total += idf[t] - once[classes[t]]
    return total


def features(item: StoryTerms, at: float, prof: Profile, idf: dict[int, float], once: Sequence[float],
             once2: Sequence[float], classes: dict[int, int], view: ItemView | None = None,
             read: _Read | None = None) -> Features:
    """How `item` compares with the story `prof` under the weights `idf` (the item's own terms);
    (a story term the item lacks weighs as a term seen once of its class, `once[class]`;
    `classes`: the class of each term in `idf`). `view`: the item's side, when already computed."""
    v = view if view is not None else ItemView(item, idf)
    k = PRIOR_BUCKETS + 1
    spread = prof.spread if prof.spread and len(prof.spread) == 5 * k else _spread(prof.lang, prof)
    if read is None:
        read = as_read(prof)
    text = _cosine_with(v.x, v.x_norm, read.terms, spread[:k], idf, once2, classes)
    title = _cosine_with(v.xt, v.xt_norm, read.title, spread[k:2 * k], idf, once2, classes)
    names = _cosine_with(v.xn, v.xn_norm, read.names, spread[2 * k:3 * k], idf, once2, classes)
    xn = v.xn
    profile_names = read.names
    shared = sum(w for n, w in xn.items() if n in profile_names)
    union = v.xn_sum + _mass(read.names, spread[4 * k:], idf, once, classes) - shared
    story_mass = _mass(read.terms, spread[3 * k:4 * k], idf, once, classes)
    share = shared / union if union > 0 else 0.0
    vx, vs = set(item.values), set(prof.values)
    both = len(vx & vs)
    agree = min(both, 3) / 3.0
    conflict = min(len(vx), len(vs), 3) / 3.0 if not both else 0.0
    gap = 0.0 if prof.started <= at <= prof.updated else min(abs(at - prof.started), abs(at - prof.updated))
    return Features(text=text, title=title, names=names, name_share=share,
                    values_agree=agree, values_conflict=conflict, log_hours=math.log1p(gap / 43200.0),
                    template=conflict * text, place_conflict=places_conflict(item.places, prof.places),
                    day_conflict=_disjoint(item.days, prof.days), cover=_cover(v, read.terms, story_mass, idf))


def _cover(v: ItemView, terms: dict[int, float], story_mass: float, idf: dict[int, float]) -> float:
    """The overlap coefficient of the item's terms and the story's, each term weighing its idf:
    shared weight over the weight of the lighter side. Cosine penalises a short item against a
    long centroid; this does not, so a two-sentence video description whose every content word
    the article has scores high, while a short post on another event does not. (A story term the
    item read no frequency of weighs as a term seen once of its class: `story_mass`.)"""
    if not terms or not v.x:
        return 0.0
    x = v.x
    shared = sum(idf[t] for t in x.keys() & terms)
    if shared == 0.0:
        return 0.0
    lighter = min(v.x_mass, story_mass)
    return shared / lighter if lighter > 0 else 0.0


def _disjoint(a: Sequence[int], b: Sequence[int]) -> float:
    return 1.0 if a and b and not set(a).intersection(b) else 0.0


