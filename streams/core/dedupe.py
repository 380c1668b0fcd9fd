"""Duplicate detection and story grouping: pure functions over plain values.

Every item gets a story. An item joins an earlier story when, within the horizon, an earlier item
had the same id, the same canonical URL, the same normalised text, or nearly the same words.

Near duplicates. An item's content words are its stemmed words of four letters or more (Snowball
for de, en, fr and ru; the first six letters for uk), hashed to 32 bits; its sketch is the
smallest SKETCH_SIZE of those hashes, which for a feed entry is nearly always the whole set. Two
items of one language are near duplicates when the smaller one's content words are at least
`MIN_CONTAINMENT` contained in the other's, and their numbers do not contradict each other (one
item's numbers are a subset of the other's). Containment rather than Jaccard, because a truncated
copy (the first sentence of a wire story) is contained in the full one; the number check, because
the same kind of report on another day ("31 of 35 drones", "44 of 50 drones") has nearly the same
words. Measured on tests/data/eval/duplicates.jsonl against SimHash: `python -m benchmarks.quality`
and docs/dedupe.md.

Candidates. An item is indexed under its `CANDIDATE_KEYS` smallest word-pair hashes (adjacent
content words), a bottom-k sample that two copies with largely the same text share with high
probability while unrelated items rarely do. Each key keeps its `MAX_PER_KEY` newest items.

State is one key-value space (the worker's `dedupe` table, or a dict offline). Items are named
by a 64-bit hash of their id, so that index values are packed arrays, cheap to read:
  i:<item hash>   the item's record (id, story, first item, reason, time, sketch, numbers)
  u:<digest>      canonical URL → newest item    t:<digest>  normalised text → newest item
  k:<lang>:<hex>  candidate key → its MAX_PER_KEY newest items (8 bytes each)
  s:<story>       the story (first item, outlets, sources, items)
Records older than the horizon are ignored here; the store drops them (TTL, changelog retention).
"""

from __future__ import annotations

import hashlib
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter

import msgspec
import Stemmer
import xxhash

from streams.core import stories, storyterms
from streams.core.text import fold, tokens
from streams.schema import Fingerprint, NewsItem

DEFAULT_HORIZON_S = 7 * 86400.0
SKETCH_SIZE = 64
CANDIDATE_KEYS = 8
LEAD_WORDS = 8
MAX_PER_KEY = 32
MAX_CANDIDATES = 12  # candidates sharing two or more keys that are checked
SINGLE_CANDIDATES = 4  # and the newest of those sharing one
MIN_CONTENT_WORDS = 4
MIN_WORD_LEN = 4
MIN_CONTAINMENT = 0.65
TEMPLATE_LENGTH_RATIO = 0.6
UK_PREFIX = 6
_STEMMERS = {"de": "german", "en": "english", "fr": "french", "ru": "russian"}
_stemmers: dict[str, Stemmer.Stemmer] = {}

GetMany = Callable[[Sequence[str]], Sequence[bytes | None]]


def _stems(words: list[str], lang: str) -> list[str]:
    name = _STEMMERS.get(lang)
    if name is not None:
        st = _stemmers.get(lang)
        if st is None:
            st = _stemmers[lang] = Stemmer.Stemmer(name)
        return st.stemWords(words)  # type: ignore[no-any-return]
    if lang == "uk":
        return [w[:UK_PREFIX] for w in words]
    return words


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


# Content word → its 32-bit hash, or 0 for a word that is not a content word (short, or a
# number). Feed vocabulary repeats, so a bounded cache saves nearly every hash call.
_word_hashes: dict[str, int] = {}
_WORD_CACHE = 500_000


def _content_hashes(stems: list[str]) -> list[int]:
    missing = set(stems).difference(_word_hashes)
    if missing:
        if len(_word_hashes) + len(missing) > _WORD_CACHE:
            _word_hashes.clear()
            missing = set(stems)
        for s in missing:
            _word_hashes[s] = xxhash.xxh32_intdigest(s.encode()) or 1 if len(s) >= MIN_WORD_LEN and not s.isdigit() else 0
    return list(filter(None, map(_word_hashes.__getitem__, stems)))


def _h32(word: str) -> int:
    return xxhash.xxh32_intdigest(word.encode())


def item_hash(item_id: str) -> int:
    return xxhash.xxh64_intdigest(item_id.encode())


def record_key(ih: int) -> str:
    return f"i:{ih:016x}"


def fingerprint(item: NewsItem, title_words: list[str] | None = None, summary_words: list[str] | None = None) -> Fingerprint:
    """The keys and sketch of an item. The caller may pass its already folded words."""
    lang = item.lang or "und"
    tw = tokens(fold(item.title)) if title_words is None else title_words
    sw = tokens(fold(item.summary)) if summary_words is None else summary_words
    words = tw + sw
    text_key = "t:" + _digest(" ".join(words)) if len(words) >= 3 else None
    th = _content_hashes(_stems(tw, lang))
    sh = _content_hashes(_stems(sw, lang))
    hashes = th + sh
    terms = storyterms.extract(item.title, item.summary, lang)
    # Figures as written in any form (130.000, 130,000, "five"), years left out, in the same
    # normal form the story tier compares.
    numbers = terms.values
    distinct = sorted(set(hashes))
    keys: list[str] = []
    if len(distinct) >= MIN_CONTENT_WORDS:
        # A word pair's hash, mixed from its words' hashes (a multiply-xorshift, no hash call).
        pairs = sorted({((a * 0x9E3779B1 ^ b) * 0x85EBCA77 >> 7) & 0xFFFFFFFF for a, b in zip(hashes, hashes[1:], strict=False)})
        keys = [f"k:{lang}:{h:08x}" for h in pairs[:CANDIDATE_KEYS]]
        # The lead: a truncated copy (the first sentence of a wire story) starts like the full one.
        lead = (sh or th)[:LEAD_WORDS]
        if len(lead) == LEAD_WORDS:
            keys.append(f"l:{lang}:{hash(tuple(lead)) & 0xFFFFFFFFFFFF:012x}")
    return Fingerprint(
        item=item.id, source=item.labels.get("outlet") or item.source, lang=lang,
        url_key="u:" + _digest(item.url) if item.url else None, text_key=text_key,
        words=len(distinct), sketch=distinct[:SKETCH_SIZE], numbers=numbers, keys=keys,
        published=item.published.timestamp() if item.published else None, story_terms=terms,
        revision=item.revision,
    )


def containment(a: Fingerprint | ItemRecord, b: Fingerprint | ItemRecord) -> float:
    """How much of the smaller item's content words the other one has (0..1). Exact when both
    sketches hold every word; otherwise estimated from the bottom-k sample of the union."""
    sa, sb = a.sketch, b.sketch
    if not sa or not sb:
        return 0.0
    small = min(a.words, b.words)
    both = set(sa).intersection(sb)
    if a.words <= SKETCH_SIZE and b.words <= SKETCH_SIZE:
        return len(both) / small
    union = sorted(set(sa).union(sb))[:SKETCH_SIZE]
    jaccard = sum(1 for h in union if h in both) / len(union)
    return min(1.0, jaccard * (a.words + b.words) / (1 + jaccard) / small)


def numbers_agree(a: Sequence[int], b: Sequence[int]) -> bool:
    """One item's numbers are all in the other: a copy may drop figures, never change them."""
    sa, sb = set(a), set(b)
    return sa <= sb or sb <= sa


class ItemRecord(msgspec.Struct, frozen=True, array_like=True):
    """What the index remembers of an item (key i:<item hash>)."""

    item: str
    story: str
    first: str
    reason: str | None
    at: float
    lang: str
    words: int
    sketch: list[int]
    numbers: list[int]
    source: tuple[int, int, int] | None = None  # (partition, offset, index) it was decided from


@dataclass(frozen=True, slots=True)
class Decision:
    story: str
    duplicate_of: str | None
    reason: str | None  # "id", "url", "text", "near", "story" or None for a new story
    score: float | None = None
    replay: bool = False  # this very item was decided before (a redelivery after a crash)
    related_to: str | None = None  # a new story that follows up this earlier one
    choice: stories.Choice | None = None  # what the story tier compared (for --explain)


def story_id(first_item: str) -> str:
    return "s-" + _digest("story:" + first_item)[:16]


_record_dec = msgspec.msgpack.Decoder(ItemRecord)
_enc = msgspec.msgpack.Encoder()


def _items(data: bytes | None) -> array[int]:
    out: array[int] = array("Q")
    if data:
        out.frombytes(data)
    return out


def decide(fp: Fingerprint, get_many: GetMany, now: float, horizon_s: float = DEFAULT_HORIZON_S,
           source: tuple[int, int, int] | None = None,
           min_containment: float = MIN_CONTAINMENT) -> tuple[Decision, dict[str, bytes]]:
    """The story of `fp`, and what to write back.

    `writes` maps keys to their new values; the caller stores all of them or none. Reads go
    through `get_many` in two rounds: the exact and candidate keys, then the records of the best
    candidates. `source` is where the item came from (partition, offset, index in its batch): the same item read
    again from the same place is a redelivery after a crash (`replay`), decided as the first
    time and writing nothing; the same id from anywhere else is an exact duplicate.
    """
    oldest = now - horizon_s
    ih = item_hash(fp.item)
    exact = [record_key(ih), fp.url_key or "-", fp.text_key or "-"]
    values = get_many(exact + fp.keys)
    own = _record_dec.decode(values[0]) if values[0] else None
    if own is not None and own.at >= oldest and own.item == fp.item:
        if source is not None and own.source == tuple(source):
            return Decision(own.story, None if own.first == fp.item else own.first, own.reason, replay=True), {}
        # The same id again (a feed that republished it, or corrected it: "update"): a duplicate
        # of its story's first item, never a new story.
        return Decision(own.story, own.first, "update" if fp.revision > 0 else "id"), {}
    buckets = {k: _items(v) for k, v in zip(fp.keys, values[3:], strict=True)}
    at = event_time(fp.published, now, horizon_s)
    ctx = stories.Context.read(fp.lang, fp.story_terms, at, get_many) if fp.story_terms is not None else None
    decision: Decision | None = None
    for reason, data in (("url", values[1]), ("text", values[2])):
        if data and decision is None:
            decision = _join(get_many, _items(data)[-1], reason, oldest)
    templates: set[str] = set()
    if decision is None and buckets:
        decision, templates = _near(fp, buckets, get_many, oldest, horizon_s, min_containment)
    if decision is None and ctx is not None and len(fp.story_terms.terms) >= MIN_CONTENT_WORDS:  # type: ignore[union-attr]
        # Too few words are no evidence of a story ("probe 2"). A story holding a copy of this
        # item's words with other figures is another report from the same template (yesterday's
        # drone tally): never this item's story.
        choice = ctx.choose(horizon_s, exclude=templates)
        if choice.story is not None:
            known = ctx.profile(choice.story)
            decision = Decision(choice.story, known.first if known else None, "story",
                                round(choice.probability or 0.0, 3), choice=choice)
        else:
            decision = Decision(story_id(fp.item), None, None, related_to=choice.related_to, choice=choice)
    if decision is None:
        decision = Decision(story_id(fp.item), None, None)
    writes = index_writes(fp, ih, decision, buckets, now, source)
    if ctx is not None:
        known = ctx.profile(decision.story) if decision.duplicate_of is not None else None
        writes.update(ctx.record(decision.story, decision.duplicate_of or fp.item, known, decision.related_to))
    return decision, writes


def event_time(published: float | None, now: float, horizon_s: float) -> float:
    """When the item happened, for time proximity: its own time when it is plausible (within the
    horizon, not in the future), else when it was processed."""
    if published is None or not now - horizon_s <= published <= now + 300.0:
        return now
    return published


def _join(get_many: GetMany, ih: int, reason: str, oldest: float) -> Decision | None:
    data = get_many([record_key(ih)])[0]
    rec = _record_dec.decode(data) if data else None
    if rec is None or rec.at < oldest:
        return None
    return Decision(rec.story, rec.first, reason)


def _near(fp: Fingerprint, buckets: dict[str, array[int]], get_many: GetMany, oldest: float, horizon_s: float,
          min_containment: float) -> tuple[Decision | None, set[str]]:
    """The story of the nearest copy of `fp`, and the stories of copies whose figures disagree."""
    # Candidates: the items sharing the most candidate keys with this one (newest first among
    # equals). Copies share several keys; an item sharing only one is checked only if recent.
    shared = Counter(chain.from_iterable(reversed(b) for b in buckets.values()))
    templates: set[str] = set()
    if not shared:
        return None, templates
    ranked = sorted(shared.items(), key=itemgetter(1), reverse=True)
    several = [ih for ih, n in ranked[:MAX_CANDIDATES] if n > 1]
    ranked_ids = several + [ih for ih, n in ranked[len(several):len(several) + SINGLE_CANDIDATES]]
    best: tuple[float, float, ItemRecord] | None = None
    for data in get_many([record_key(ih) for ih in ranked_ids]):
        if not data:
            continue
        rec = _record_dec.decode(data)
        # Within the horizon on either side: an item read out of time order (a backlog) meets
        # the same candidates as in order.
        if not oldest <= rec.at <= oldest + 2 * horizon_s or rec.lang != fp.lang:
            continue
        c = containment(fp, rec)
        if c < min_containment:
            continue
        if not numbers_agree(rec.numbers, fp.numbers):
            # Another report from one template is as long as this one; a short post contained in
            # a long article that gives more figures is not.
            if min(rec.words, fp.words) >= TEMPLATE_LENGTH_RATIO * max(rec.words, fp.words):
                templates.add(rec.story)
        elif best is None or (c, -rec.at) > (best[0], -best[1]):
            best = (c, rec.at, rec)
    if best is None:
        return None, templates
    return Decision(best[2].story, best[2].first, "near", round(best[0], 3)), templates


def index_writes(fp: Fingerprint, ih: int, decision: Decision, buckets: dict[str, array[int]], now: float,
                 source: tuple[int, int, int] | None = None) -> dict[str, bytes]:
    """The item's record, and the item added under its url, text and candidate keys."""
    first = decision.duplicate_of or fp.item
    writes = {record_key(ih): _enc.encode(ItemRecord(fp.item, decision.story, first, decision.reason, now, fp.lang,
                                                     fp.words, fp.sketch, fp.numbers, source))}
    me = array("Q", [ih]).tobytes()
    for key in (fp.url_key, fp.text_key):
        if key:
            writes[key] = me  # the newest item under an exact key stands for all of them
    for key, items in buckets.items():
        if ih in items:
            items.remove(ih)
        writes[key] = items[-(MAX_PER_KEY - 1):].tobytes() + me
    return writes


class Story(msgspec.Struct, frozen=True, array_like=True):
    """What is known of a story: its first item, when it started, which outlets carry it, and the
    earlier story it follows up."""

    first: str
    started: float
    sources: list[str]
    items: int
    updated: float = 0.0
    related_to: str | None = None

    @property
    def outlets(self) -> int:
        return len(self.sources)


MAX_SOURCES = 64
_story_dec = msgspec.msgpack.Decoder(Story)


def add_to_story(story: Story | None, decision: Decision, fp: Fingerprint, now: float) -> Story:
    """The story after `fp` joined it (or a new story). An outlet counts once."""
    if story is None:
        return Story(first=decision.duplicate_of or fp.item, started=now,
                     sources=[fp.source] if fp.source else [], items=1, updated=now, related_to=decision.related_to)
    sources = story.sources
    if fp.source and fp.source not in sources and len(sources) < MAX_SOURCES:
        sources = [*sources, fp.source]
    return Story(first=story.first, started=story.started, sources=sources, items=story.items + 1, updated=now,
                 related_to=story.related_to)


def story_key(story: str) -> str:
    return "s:" + story


def encode_story(story: Story) -> bytes:
    return _enc.encode(story)


def decode_story(data: bytes | None) -> Story | None:
    return _story_dec.decode(data) if data else None
