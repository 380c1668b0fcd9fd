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
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgspec

from streams.core.profiles import (
    PRIOR_BUCKETS,
    Profile,
    _profile_dec,
    _read,
    background,
    bucket_share,
    merge,
)
from streams.core.storyfeatures import (  # noqa: F401 - the model's weights, re-exported (benchmarks.stories fits them)
    WEIGHTS,
    Features,
    ItemView,
    _sigmoid,
    features,
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

JOIN_P = 0.30
_PSEUDO_DF = [PRIOR_ITEMS * bucket_share(k) for k in range(PRIOR_BUCKETS + 1)]
RELATED_P = 0.5


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


