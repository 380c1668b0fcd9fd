"""A story's profile (key p:<story>): what its items say together, as the story tier stores and
compares it. Pure. `merge` adds an item; `_read` decodes stored bytes once for every item that
compares with them; `_spread` keeps the profile's weight per class of commonness, so comparisons
visit only the terms an item shares (streams/core/stories.py)."""

from __future__ import annotations

import functools
import heapq
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

import msgspec

from streams.core.storyterms import MIN_TERM_LEN, StoryTerms, _h, skeleton, stem
from streams.core.text import fold

# How common a term is in the language at large, for weighing terms before a stream has seen
# many items (streams/core/stories.py): wordfreq's word frequencies summed per stem, turned into
# the share q of documents (of about DOC_WORDS words) that would hold the term, and kept as one of
# PRIOR_BUCKETS classes (q in (2^-k, 2^-(k-1)]: class k; 0 for a term not listed, a rare one).
DOC_WORDS = 200.0
PRIOR_BUCKETS = 16
# Words rarer than this are left out: in a document of DOC_WORDS words they are there with a
# chance under 0.06 %, which weighs within 1 % of a term never listed, and leaving them out makes
# the tables twice as fast to build (ru and uk lemmatise every word). Chosen on dev: 1e-5 was
# four times faster but lost a dev pair; 3e-6 changed no dev figure.
MIN_FREQUENCY = 3e-6
_WORDFREQ_LANGS = {"de", "en", "fr", "ru", "uk"}


def bucket_share(k: int) -> float:
    """The share of documents that class `k` stands for (0 for class 0, a rare term)."""
    return 0.0 if k <= 0 else 2.0 ** -(k - 0.5)


@functools.lru_cache(maxsize=8)
def background(lang: str) -> dict[int, int]:
    """Term hash → its class of commonness in ordinary text of `lang` (1 = in most documents,
    PRIOR_BUCKETS = in few), for the terms (stems) and names (skeletons) of wordfreq's common
    words; a term not listed is rare (class 0, not stored)."""
    if lang not in _WORDFREQ_LANGS:
        return {}
    from wordfreq import get_frequency_dict

    freq: dict[int, float] = {}
    for word, f in get_frequency_dict(lang, wordlist="small").items():
        if f < MIN_FREQUENCY:
            continue
        w = fold(word)
        if len(w) < MIN_TERM_LEN or not w.isalpha():
            continue
        st = stem(w, lang)
        for h in (_h(st), _h("@" + skeleton(st))):
            freq[h] = freq.get(h, 0.0) + f
    out = {}
    for h, f in freq.items():
        q = -math.expm1(-f * DOC_WORDS)
        out[h] = min(PRIOR_BUCKETS, max(1, int(-math.log2(q)) + 1)) if q > 0 else PRIOR_BUCKETS
    return out


MAX_CENTROID = 160
MAX_PROFILE_NAMES = 48
MAX_PROFILE_VALUES = 48


class Profile(msgspec.Struct, frozen=True, array_like=True):
    """What a story's items say together (key p:<story>): summed term counts (its centroid),
    title terms, names and figures, when it started and was last joined (event time)."""

    story: str
    first: str
    lang: str
    started: float
    updated: float
    items: int
    terms: list[int]
    counts: list[float]
    title: list[int]
    title_counts: list[int]
    names: list[int]
    name_counts: list[int]
    values: list[int]
    related_to: str | None = None
    places: list[int] = msgspec.field(default_factory=list)
    days: list[int] = msgspec.field(default_factory=list)
    # no longer written (`spread` replaced it); kept so that stored profiles still decode in place
    norms: tuple[float, float, float] | None = None
    # per class of commonness (`background`): Σ (1 + ln c)² of terms, of title terms and
    # of names, then how many terms and names are of each class (`_spread`); None before it
    spread: list[float] | None = None


_enc = msgspec.msgpack.Encoder()
_profile_dec = msgspec.msgpack.Decoder(Profile)


@dataclass(frozen=True, slots=True)
class _Read:
    """A stored profile as compared: decoded once, with each field as a term → count map."""

    prof: Profile
    terms: dict[int, float]
    title: dict[int, int]
    names: dict[int, int]


def as_read(prof: Profile) -> _Read:
    return _Read(prof, dict(zip(prof.terms, prof.counts, strict=True)),
                 dict(zip(prof.title, prof.title_counts, strict=True)),
                 dict(zip(prof.names, prof.name_counts, strict=True)))


@functools.lru_cache(maxsize=4096)
def _read(data: bytes) -> _Read:
    """The same profile bytes come back for item after item while a story is recent: decoding
    them and building their maps once is a memo, not state (the bytes are the key)."""
    return as_read(_profile_dec.decode(data))


_SCALE2 = [0.0] + [(1.0 + math.log(c)) ** 2 for c in range(1, 64)]


def _scale2(c: float) -> float:
    return _SCALE2[c] if isinstance(c, int) and 0 <= c < 64 else ((1.0 + math.log(c)) ** 2 if c > 0 else 0.0)


def _spread(lang: str, prof: Profile) -> list[float]:
    """A profile's `spread` (its field): per class of commonness, Σ (1 + ln c)² of its terms, of
    its title terms and of its names, then the number of its terms and of its names."""
    get = background(lang).get
    k = PRIOR_BUCKETS + 1
    out = [0.0] * (5 * k)
    for offset, keys, counts, number_at in ((0, prof.terms, prof.counts, 3 * k), (k, prof.title, prof.title_counts, -1),
                                            (2 * k, prof.names, prof.name_counts, 4 * k)):
        classes = list(map(get, keys, repeat(0)))
        for c, n in Counter(classes).items():
            out[offset + c] += n  # (1 + ln 1)² = 1: a term counted once
            if number_at >= 0:
                out[number_at + c] += n
        for c, count in zip(classes, counts, strict=True):
            if count != 1:
                out[offset + c] += _scale2(count) - 1.0
    return out


def _top(counts: dict[int, float], limit: int) -> tuple[list[int], list[float]]:
    """The `limit` heaviest keys (the smaller hash among equals), in key order, with their counts."""
    if len(counts) <= limit:
        keys = sorted(counts)
    else:
        keys = sorted(k for k, _ in heapq.nsmallest(limit, counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return keys, [counts[k] for k in keys]


def _summed(keys: Sequence[int], counts: Sequence[float], into: dict[int, float]) -> dict[int, float]:
    get = into.get
    for k, c in zip(keys, counts, strict=True):
        into[k] = get(k, 0) + c
    return into


def merge(known: Profile | None, story: str, first: str, lang: str, item: StoryTerms, at: float,
          related_to: str | None = None) -> Profile:
    """The story's profile with one more item: counts summed, bounded to the heaviest terms."""
    terms: dict[int, float] = dict(zip(item.terms, item.counts, strict=True))
    title: dict[int, float] = dict.fromkeys(item.title, 1)
    names: dict[int, float] = dict.fromkeys(item.names, 1)
    values = list(item.values)
    places, days = set(item.places), set(item.days)
    if known is None:
        started = updated = at
        items = 1
    else:
        terms = _summed(known.terms, known.counts, terms)
        title = _summed(known.title, known.title_counts, title)
        names = _summed(known.names, known.name_counts, names)
        values = sorted(set(known.values).union(values))
        places.update(known.places)
        days.update(known.days)
        started, updated, items = min(known.started, at), max(known.updated, at), known.items + 1
        related_to = known.related_to if related_to is None else related_to
        first = known.first
    t, tc = _top(terms, MAX_CENTROID)
    ti, tic = _top(title, MAX_CENTROID)
    nm, nc = _top(names, MAX_PROFILE_NAMES)
    prof = Profile(story=story, first=first, lang=lang, started=started, updated=updated, items=items,
                   terms=t, counts=tc, title=ti, title_counts=[int(v) for v in tic], names=nm,
                   name_counts=[int(v) for v in nc], values=sorted(values)[:MAX_PROFILE_VALUES],
                   related_to=related_to, places=sorted(places), days=sorted(days))
    return msgspec.structs.replace(prof, spread=_spread(lang, prof))
