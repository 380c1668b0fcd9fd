"""Duplicate detection and story grouping: pure functions over plain values.

Every item gets a story. An item joins an earlier story when, within the horizon, an earlier item
had the same id, the same canonical URL, the same normalised title and text, or a SimHash of its
words within `max_distance` bits (same language only: a translation is a different item).
Near-duplicate candidates are found by the pigeonhole principle: the 64-bit SimHash is cut into
six bands of 10-11 bits, and two hashes within 5 bits of each other share at least one band
exactly, so each band is an exact lookup key; pairs 6-7 bits apart are found when they share a
band, which is likely but not certain. On the demo feeds, reworded copies are 1-4 bits apart and
unrelated items at least 20.

The shell (streams/agents.py) looks up `lookup_keys(fp)` in its index table, passes what it found
to `decide`, and writes `index_entry` back under every key. Expired entries are ignored here and
pruned by `merge_entries`, so state stays bounded by the horizon.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import msgspec
import numpy as np
import xxhash

from streams.core.text import fold, tokens
from streams.schema import Fingerprint, NewsItem

BAND_WIDTHS = (10, 10, 11, 11, 11, 11)
DEFAULT_HORIZON_S = 7 * 86400.0
DEFAULT_MAX_DISTANCE = 7
MAX_ENTRIES_PER_KEY = 32
MIN_WORDS_FOR_NEAR = 8


class Seen(msgspec.Struct, frozen=True, array_like=True):
    """One index entry: an item seen at `at` (epoch seconds) that belongs to `story`."""

    item: str
    story: str
    first: str
    simhash: int
    lang: str
    at: float


@dataclass(frozen=True, slots=True)
class Decision:
    story: str
    duplicate_of: str | None
    reason: str | None  # "id", "url", "text", "near" or None for a new story
    distance: int | None = None


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def simhash(words: list[str]) -> int:
    """64-bit SimHash of a word list (each distinct word weighted by its count)."""
    if not words:
        return 0
    hashes = np.fromiter((xxhash.xxh64_intdigest(w.encode()) for w in words), dtype=np.uint64, count=len(words))
    bits = np.unpackbits(hashes.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    votes = bits.sum(axis=0, dtype=np.int32) * 2 - len(words)
    packed = np.packbits(votes > 0, bitorder="little")
    return int.from_bytes(packed.tobytes(), "little")


def _bands(sh: int, lang: str) -> list[str]:
    out, shift = [], 0
    for b, width in enumerate(BAND_WIDTHS):
        out.append(f"sh{b}:{lang}:{(sh >> shift) & ((1 << width) - 1):03x}")
        shift += width
    return out


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def fingerprint(item: NewsItem) -> Fingerprint:
    """The keys under which an item is indexed and looked up."""
    title = fold(item.title)
    body = fold(item.summary)
    words = tokens(title) + tokens(body)
    text_key = "txt:" + _digest(" ".join(words)) if len(words) >= 3 else None
    sh: int | None = None
    bands: list[str] = []
    if len(words) >= MIN_WORDS_FOR_NEAR:
        sh = simhash(words)
        lang = item.lang or "und"
        bands = _bands(sh, lang)
    return Fingerprint(
        item=item.id, source=item.labels.get("outlet") or item.source, lang=item.lang or "und",
        id_key="id:" + item.id,
        url_key="url:" + _digest(item.url) if item.url else None,
        text_key=text_key, simhash=sh, band_keys=list(bands),
    )


def story_id(first_item: str) -> str:
    return "s-" + _digest("story:" + first_item)[:16]


def decide(
    fp: Fingerprint,
    found: dict[str, list[Seen]],
    now: float,
    horizon_s: float = DEFAULT_HORIZON_S,
    max_distance: int = DEFAULT_MAX_DISTANCE,
) -> Decision:
    """Which story `fp` belongs to, given the index entries found under its lookup keys."""
    oldest = now - horizon_s

    def live(key: str | None) -> list[Seen]:
        return [s for s in found.get(key or "", ()) if s.at >= oldest] if key else []

    for reason, key in (("id", fp.id_key), ("url", fp.url_key), ("text", fp.text_key)):
        hits = live(key)
        if hits:
            first = min(hits, key=lambda s: s.at)
            return Decision(first.story, first.first, reason)
    if fp.simhash is not None:
        best: tuple[int, float, Seen] | None = None
        for key in fp.band_keys:
            for s in live(key):
                if s.lang != fp.lang:
                    continue
                d = hamming(s.simhash, fp.simhash)
                if d <= max_distance and (best is None or (d, s.at) < best[:2]):
                    best = (d, s.at, s)
        if best is not None:
            return Decision(best[2].story, best[2].first, "near", best[0])
    return Decision(story_id(fp.item), None, None)


def index_entry(fp: Fingerprint, decision: Decision, now: float) -> Seen:
    return Seen(item=fp.item, story=decision.story, first=decision.duplicate_of or fp.item,
                simhash=fp.simhash or 0, lang=fp.lang, at=now)


def merge_entries(existing: list[Seen], entry: Seen, now: float, horizon_s: float) -> list[Seen]:
    """The entries to keep under one key: unexpired, newest last, at most MAX_ENTRIES_PER_KEY."""
    kept = [s for s in existing if s.at >= now - horizon_s and s.item != entry.item]
    kept.append(entry)
    return kept[-MAX_ENTRIES_PER_KEY:]


class Story(msgspec.Struct, frozen=True, array_like=True):
    """What is known of a story: its first item, when it started, which outlets carry it."""

    first: str
    started: float
    sources: list[str]
    items: int

    @property
    def outlets(self) -> int:
        return len(self.sources)


MAX_SOURCES = 64


def add_to_story(story: Story | None, decision: Decision, fp: Fingerprint, now: float) -> Story:
    """The story after `fp` joined it (or a new story). An outlet counts once."""
    if story is None:
        return Story(first=decision.duplicate_of or fp.item, started=now,
                     sources=[fp.source] if fp.source else [], items=1)
    sources = story.sources
    if fp.source and fp.source not in sources and len(sources) < MAX_SOURCES:
        sources = [*sources, fp.source]
    return Story(first=story.first, started=story.started, sources=sources, items=story.items + 1)


_seen_list = msgspec.msgpack.Decoder(list[Seen])
_story_dec = msgspec.msgpack.Decoder(Story)
_enc = msgspec.msgpack.Encoder()


def encode_entries(entries: list[Seen]) -> bytes:
    return _enc.encode(entries)


def decode_entries(data: bytes | None) -> list[Seen]:
    return _seen_list.decode(data) if data else []


def encode_story(story: Story) -> bytes:
    return _enc.encode(story)


def decode_story(data: bytes | None) -> Story | None:
    return _story_dec.decode(data) if data else None
