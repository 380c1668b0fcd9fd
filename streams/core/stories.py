"""Story clustering: the second tier of streams.core.dedupe, which joins an item to the recent
story of its language that reports the same event, when no copy of it was found. Pure.

After Miranda et al., "Multilingual Clustering of Streaming News" (EMNLP 2018): an item is compared
with story *centroids*, not with single items, by TF-IDF similarities per field with weights
learned from the stream itself, plus time; a learned decision says whether the best story is the
item's or whether it starts a new one. Here the fields are an item's stems (title and summary),
its title's stems, its names and its figures (streams/core/storyterms.py), and the decision is a
logistic model over eleven features (`Features`) whose weights were fitted on the dev split of
tests/data/eval/stories/ (`python -m benchmarks.stories --fit`), never on the test split.

- Term weights: every term and name has a decayed document frequency (half-life `DF_HALF_LIFE_S`)
  and the language a decayed item count; idf = ln(1 + N / df). They are read, and the item counted,
  before it is compared, so that a→b and b→a see the same weights and get the same verdict.
- Candidates: every story is indexed under the rarest terms of each of its items (`INDEX_TERMS` an
  item), each key keeping its `MAX_PER_KEY` newest stories; an item looks up its `QUERY_TERMS`
  rarest terms and compares itself with the `MAX_CANDIDATES` stories that share the most weight
  with it. Cost per item is bounded, whatever the horizon.
- Evidence against: figures that both sides give and none of which agree (61 of 79 drones against
  45 of 52; eleven dead against four), and time apart.
- A story the item does not join but speaks of the same thing (the probability without time and
  figures, `content_probability`, >= `RELATED_P`) is its `related_to`: a follow-up with new facts
  (a day later, a higher toll) starts a new story linked to the one it follows.

State keys, beside dedupe's (same key-value space, same expiry):
  f:<lang>:<hash hex>   [count, at]: decayed document frequency of a term (or name)
  n:<lang>              [count, at]: decayed number of items
  w:<lang>:<hash hex>   postings: packed u64 story hashes, newest last
  p:<story>             `Profile`: the story's centroid, names, figures and times
"""

from __future__ import annotations

import math
import operator
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgspec

from streams.core.places import places_conflict
from streams.core.profiles import (
    PRIOR_BUCKETS,
    Profile,
    _profile_dec,
    _Read,
    _read,
    _spread,
    as_read,
    background,
    bucket_share,
    merge,
)
from streams.core.storyterms import StoryTerms

GetMany = Callable[[Sequence[str]], Sequence[bytes | None]]

DF_HALF_LIFE_S = 3 * 86400.0
INDEX_TERMS = 16
QUERY_TERMS = 40
MAX_PER_KEY = 24
MAX_CANDIDATES = 8
# Document frequencies start from the language at large (streams.core.profiles.background): the stream's
# counts are added to PRIOR_ITEMS ordinary documents, so that in a young stream a word such as
# "night" or "said" weighs little and a name never seen before weighs much; after a few hundred
# items the stream's own counts dominate.
PRIOR_ITEMS = 30.0

# The decision: logit = bias + Σ weight × feature; join when the probability >= JOIN_P.
# Fitted by `python -m benchmarks.stories --fit` on the dev split (see docs/quality.md).
WEIGHTS: dict[str, float] = {
    "bias": -3.06, "text": 3.08, "title": 0.3, "names": 3.98, "name_share": 2.06,
    "values_agree": 3.15, "values_conflict": -3.45, "log_hours": -2.84, "template": -2.49,
    "place_conflict": -1.96, "day_conflict": -1.08, "cover": 2.49,
}
JOIN_P = 0.30
_PSEUDO_DF = [PRIOR_ITEMS * bucket_share(k) for k in range(PRIOR_BUCKETS + 1)]
RELATED_P = 0.5


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


@dataclass(frozen=True, slots=True)
class Candidate:
    story: str
    features: Features
    probability: float

    def explain(self) -> dict[str, object]:
        """The candidate story, each feature with what it added to the logit, and the verdict."""
        values = self.features.as_dict()
        return {"story": self.story, "probability": round(self.probability, 3),
                "logit": round(self.features.logit(), 3), "bias": WEIGHTS["bias"],
                "features": {k: {"value": v, "adds": round(WEIGHTS[k] * v, 3)} for k, v in values.items()}}


@dataclass(slots=True)
class Choice:
    """The story tier's verdict: the story joined (or None: a new story), the story this one is
    related to, and every candidate compared (best first) for `warwire dedupe --explain`."""

    story: str | None
    related_to: str | None
    probability: float | None
    candidates: list[Candidate] = field(default_factory=list)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


_enc = msgspec.msgpack.Encoder()
_pair_dec = msgspec.msgpack.Decoder(tuple[float, float])


def _decayed(data: bytes | None, now: float) -> float:
    if not data:
        return 0.0
    count, at = _pair_dec.decode(data)
    # |now - at|: an item older than the last count (a feed's backlog) decays it as a newer one
    # would, so the order two items arrive in does not change their weights.
    return count * 0.5 ** (abs(now - at) / DF_HALF_LIFE_S)


def story_hash(story: str) -> int:
    """The 64-bit number a story id (s-<16 hex>) stands for in postings."""
    try:
        return int(story[2:18], 16)
    except ValueError:
        import xxhash
        return xxhash.xxh64_intdigest(story.encode())


def profile_key(story: str) -> str:
    return "p:" + story


def _hex_story(h: int) -> str:
    return f"s-{h:016x}"


class Context:
    """One item's view of the state: term weights (the item already counted) and the writes that
    count it. Built by `read`, then `choose` (tier 2) and `record` (whichever story it joined)."""

    __slots__ = ("lang", "terms", "at", "idf", "once", "once2", "classes", "writes", "_get", "_view", "_postings")

    def __init__(self, lang: str, terms: StoryTerms, at: float, get_many: GetMany) -> None:
        self.lang, self.terms, self.at, self._get = lang, terms, at, get_many
        self._view: ItemView | None = None
        self._postings: dict[str, bytes | None] = {}  # posting lists read by `compare`, for `record`
        keys = [f"n:{lang}"] + [f"f:{lang}:{h:08x}" for h in terms.terms] + [f"f:{lang}:{h:08x}" for h in terms.names]
        values = get_many(keys)
        n = _decayed(values[0], at) + 1.0
        docs = n + PRIOR_ITEMS
        # The weight of a story's term that this item lacks (its frequency was not read): that of
        # a term seen once, of its class of commonness (`once[class]`), by the same rule as the
        # item's own terms, so that a→b and b→a weigh alike.
        pseudo = _PSEUDO_DF  # the ordinary documents of each class that hold a term
        self.once = [math.log(1.0 + docs / (1.0 + p)) for p in pseudo]
        self.once2 = [w * w for w in self.once]
        prior = background(lang)
        self.writes: dict[str, bytes] = {keys[0]: _enc.encode((n, at))}
        self.idf: dict[int, float] = {}
        self.classes: dict[int, int] = {}
        hashes = [*terms.terms, *terms.names]
        for key, h, data in zip(keys[1:], hashes, values[1:], strict=True):
            df = _decayed(data, at) + 1.0
            k = self.classes[h] = prior.get(h, 0)
            self.writes[key] = _enc.encode((df, at))
            self.idf[h] = math.log(1.0 + docs / (df + pseudo[k]))
        for h in terms.title:
            if h not in self.idf:  # a title term beyond the item's MAX_TERMS heaviest: seen once
                k = self.classes[h] = prior.get(h, 0)
                self.idf[h] = self.once[k]

    @classmethod
    def read(cls, lang: str, terms: StoryTerms, at: float, get_many: GetMany) -> Context:
        return cls(lang, terms, at, get_many)

    def _rarest(self, k: int) -> list[int]:
        # Rarest first; among equals, title terms, then the hash (a stable order).
        title = set(self.terms.title)
        return sorted(self.terms.terms, key=lambda h: (-self.idf[h], h not in title, h))[:k]

    def compare(self, horizon_s: float, exclude: frozenset[str] | set[str] = frozenset()) -> list[Candidate]:
        """The item against each story that shares the most weight of its rarest terms, best first
        (`exclude`: stories it must not join)."""
        query = self._rarest(QUERY_TERMS)
        posting_keys = [f"w:{self.lang}:{h:08x}" for h in query]
        shared: Counter[int] = Counter()
        postings = self._get(posting_keys)
        self._postings = dict(zip(posting_keys, postings, strict=True))
        for h, data in zip(query, postings, strict=True):
            if data:
                stories = array("Q")
                stories.frombytes(data)
                for s in set(stories):
                    shared[s] += self.idf[h]
        ranked = [s for s, _ in shared.most_common(MAX_CANDIDATES)]
        oldest = self.at - horizon_s
        candidates: list[Candidate] = []
        if self._view is None:
            self._view = ItemView(self.terms, self.idf)
        for data in self._get([profile_key(_hex_story(s)) for s in ranked]):
            if not data:
                continue
            read = _read(data)
            prof = read.prof
            if (prof.updated < oldest or prof.started > self.at + horizon_s or prof.lang != self.lang
                    or prof.story in exclude):
                continue
            f = features(self.terms, self.at, prof, self.idf, self.once, self.once2, self.classes, self._view, read)
            candidates.append(Candidate(prof.story, f, f.probability()))
        candidates.sort(key=lambda c: (-c.probability, c.story))
        return candidates

    def choose(self, horizon_s: float, exclude: frozenset[str] | set[str] = frozenset()) -> Choice:
        """Join the best story when the model's probability reaches JOIN_P."""
        candidates = self.compare(horizon_s, exclude)
        if not candidates:
            return Choice(None, None, None, [])
        best = candidates[0]
        if best.probability >= JOIN_P:
            return Choice(best.story, None, best.probability, candidates)
        near = max(candidates, key=lambda c: (c.features.content_probability(), c.story))
        related = near.story if near.features.content_probability() >= RELATED_P else None
        return Choice(None, related, best.probability, candidates)

    def profile(self, story: str) -> Profile | None:
        data = self._get([profile_key(story)])[0]
        return _profile_dec.decode(data) if data else None

    def record(self, story: str, first: str, known: Profile | None, related_to: str | None = None) -> dict[str, bytes]:
        """The writes that count this item and add it to `story` (its profile and postings)."""
        writes = dict(self.writes)
        prof = merge(known, story, first, self.lang, self.terms, self.at, related_to)
        writes[profile_key(story)] = _enc.encode(prof)
        me = story_hash(story)
        keys = [f"w:{self.lang}:{h:08x}" for h in self._rarest(INDEX_TERMS)]
        known_postings = self._postings
        unread = [k for k in keys if k not in known_postings]
        read = dict(zip(unread, self._get(unread), strict=True)) if unread else {}
        for key in keys:
            data = known_postings[key] if key in known_postings else read[key]
            stories = array("Q")
            if data:
                stories.frombytes(data)
                if me in stories:
                    stories.remove(me)
            stories = stories[-(MAX_PER_KEY - 1):]
            stories.append(me)
            writes[key] = stories.tobytes()
        return writes


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


