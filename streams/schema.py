"""The Kafka contract: every record warwire puts on a topic, and its JSON wire format.

Every package encodes and decodes through this module and nowhere else. Records are versioned
(`v`), decoding tolerates unknown fields (a newer producer may add some), and a value that is not
a valid record raises `RecordError` with the reason, so a shell can dead-letter it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from streams.core.storyterms import StoryTerms

SCHEMA_VERSION = 1

# Topic names, and the partition counts the broker script and the app agree on. Source topics
# are created by warwire (streams/topics.py), never by broker auto-creation, so faust's table
# changelogs always match their source topic's partition count.
TOPIC_RAW = "warwire.raw"
TOPIC_ANALYZED = "warwire.analyzed"
TOPIC_ALERTS = "warwire.alerts"
TOPIC_DELIVERIES = "warwire.deliveries"
# Delivery tasks not yet due wait in the retry tier of the longest delay that does not pass their due
# time (alerts/delivery_lanes.py): a 3,600 s Retry-After is four records, not one a second.
RETRY_TIERS_S = (2, 15, 120, 900)


def retry_topic(tier_s: int) -> str:
    return f"warwire.retry.{tier_s}s"


TOPIC_DLQ = "warwire.dlq"
TOPIC_FEED_HEALTH = "warwire.feed-health"
TOPIC_SILENCES = "warwire.silences"
TOPIC_FEEDBACK = "warwire.feedback"  # editors' actions from Slack (alerts/feedback.py)
TOPIC_FEED_STATE = "warwire.feed-state"
TOPIC_STORIES = "warwire.stories"
TOPIC_RULE_EVENTS = "warwire.rule-events"  # items for frequency/spike/new_term/flatline rules, digests, ticks
TOPIC_FEEDS = "warwire.feeds"  # carries no records: its partitions share out feeds among connectors
APP_ID = "warwire"  # the faust app id: consumer group, and prefix of the table changelog topics
# The worker's tables. warwire creates their changelog topics itself (compacted, with the source
# topics' partition count) before faust starts, so faust never meets a changelog it cannot see yet.
TABLES = ("dedupe", "delivered", "aggregates")


def changelog_topic(app_id: str, table: str) -> str:
    """faust's name for a table's changelog topic."""
    return f"{app_id}-{table}-changelog"


class RecordError(ValueError):
    """A value on a topic that is not a valid record (bad JSON, missing or mistyped field)."""


class NewsItem(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of one feed, normalised. Keyed on the raw topic by `id`."""

    id: str
    title: str
    summary: str = ""
    url: str = ""
    source: str = ""
    feed: str = ""
    lang: str = ""
    published: datetime | None = None
    fetched_at: datetime | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    # 0 as first published; 1, 2 … each time the feed corrects the entry under the same id
    revision: int = 0
    # already older than its feed's backlog_age when first seen (a newly added feed's archive):
    # it joins its story and counts for rules over many items, but fires no per-item alert
    backlog: bool = False
    v: int = SCHEMA_VERSION


class Match(msgspec.Struct, frozen=True, kw_only=True):
    """One taxonomy term found in an item: which field, and where (character span, end-exclusive)."""

    topic: str
    term: str
    field: str
    start: int
    end: int
    weight: float = 1.0


class Fingerprint(msgspec.Struct, frozen=True, kw_only=True):
    """What stage 2 needs to recognise an item again (streams.core.dedupe): exact keys, the
    content-word sketch it is compared by, its numbers, and the candidate keys it is indexed under."""

    item: str
    source: str
    lang: str
    url_key: str | None = None
    text_key: str | None = None
    words: int = 0  # distinct content words (the sketch holds at most SKETCH_SIZE of them)
    sketch: list[int] = msgspec.field(default_factory=list)  # smallest 32-bit hashes of content words, sorted
    numbers: list[int] = msgspec.field(default_factory=list)
    keys: list[str] = msgspec.field(default_factory=list)  # candidate keys: smallest word-pair hashes
    published: float | None = None  # the item's own time (epoch s), for story time proximity
    story_terms: StoryTerms | None = None  # stems, names and figures for story clustering
    revision: int = 0  # the item's revision (NewsItem.revision): a correction of an item already seen


class AnalyzedItem(msgspec.Struct, frozen=True, kw_only=True):
    """Stage 1's output for one item: its topics and fingerprint."""

    item: NewsItem
    fingerprint: Fingerprint
    topics: list[str] = msgspec.field(default_factory=list)
    scores: dict[str, float] = msgspec.field(default_factory=dict)
    matches: list[Match] = msgspec.field(default_factory=list)
    v: int = SCHEMA_VERSION


class AnalyzedBatch(msgspec.Struct, frozen=True, kw_only=True):
    """What the analyzed topic carries: the analyzed items of one language from one stage-1
    batch, in order, keyed by the language, so that every possible duplicate of an item is
    decided in one place. One record for many items, because a topic hop costs faust far more
    per record than stage 2's own work per item (docs/architecture.md)."""

    lang: str
    items: list[AnalyzedItem]
    v: int = SCHEMA_VERSION


# An analyzed batch stays below this many items and encoded bytes (the broker's default limit
# for a record is 1 MiB).
BATCH_MAX_ITEMS = 250
BATCH_MAX_BYTES = 512 * 1024


def batch_records(lang: str, encoded_items: list[bytes]) -> list[bytes]:
    """Encoded AnalyzedBatch records holding `encoded_items` (each an encoded AnalyzedItem), in
    order, split to respect the item and byte limits; built without decoding the items again."""
    head = b'{"lang":' + _encoder.encode(lang) + b',"v":' + str(SCHEMA_VERSION).encode() + b',"items":['
    return [head + b",".join(chunk) + b"]}" for chunk in _chunks(encoded_items)]


def _chunks(encoded: list[bytes]) -> list[list[bytes]]:
    """`encoded` in order, in runs below BATCH_MAX_ITEMS values and BATCH_MAX_BYTES bytes."""
    out: list[list[bytes]] = []
    chunk: list[bytes] = []
    size = 0
    for enc in encoded:
        if chunk and (len(chunk) >= BATCH_MAX_ITEMS or size + len(enc) > BATCH_MAX_BYTES):
            out.append(chunk)
            chunk, size = [], 0
        chunk.append(enc)
        size += len(enc) + 1
    if chunk:
        out.append(chunk)
    return out


class TaggedItem(msgspec.Struct, frozen=True, kw_only=True):
    """A NewsItem after dedupe and tagging: its story, the story's outlets, its topics and why."""

    item: NewsItem
    story: str
    duplicate_of: str | None = None
    duplicate_reason: str | None = None
    related_to: str | None = None  # the earlier story this new one follows up
    outlets: int = 1
    sources: list[str] = msgspec.field(default_factory=list)
    topics: list[str] = msgspec.field(default_factory=list)
    scores: dict[str, float] = msgspec.field(default_factory=dict)
    matches: list[Match] = msgspec.field(default_factory=list)
    v: int = SCHEMA_VERSION


class StoryUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """A story's state after an item joined it (compacted topic, keyed by story id)."""

    story: str
    first_item: str
    latest_item: str
    title: str
    lang: str
    started: datetime
    updated: datetime
    items: int
    outlets: int
    sources: list[str] = msgspec.field(default_factory=list)
    topics: list[str] = msgspec.field(default_factory=list)
    related_to: str | None = None
    v: int = SCHEMA_VERSION


class DigestEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One alert inside a digest."""

    id: str
    title: str
    url: str = ""
    source: str = ""
    outlets: int = 1
    topics: list[str] = msgspec.field(default_factory=list)
    fired_at: datetime | None = None


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """A fired rule. `id` is stable for (rule, key), the base of every receiver's idempotency key.
    A digest (a rule with group_wait) carries the alerts it groups in `digest`; an alert of a
    rule over many items (frequency, spike, new_term, flatline) says why in `reason`."""

    id: str
    rule: str
    severity: str
    key: str
    fired_at: datetime
    receivers: list[str]
    title: str
    url: str = ""
    source: str = ""
    story: str = ""
    related_to: str = ""  # the earlier story this alert's story follows up
    outlets: int = 1
    sources: list[str] = msgspec.field(default_factory=list)
    topics: list[str] = msgspec.field(default_factory=list)
    matches: list[Match] = msgspec.field(default_factory=list)
    summary: str = ""
    reason: str = ""
    digest: list[DigestEntry] = msgspec.field(default_factory=list)
    digest_total: int = 0  # alerts the digest stands for: its entries plus older ones not listed
    replayed: bool = False  # published again by `warwire alerts dlq replay`
    item: str = ""  # the id of the item that fired it (per-item rules)
    lang: str = ""
    v: int = SCHEMA_VERSION


class AlertBatch(msgspec.Struct, frozen=True, kw_only=True):
    """What the alerts topic carries: the alerts of one batch of a stage (decide, aggregate) or
    one replayed alert, in order, keyed by the first alert's id. One record for many alerts, as
    for AnalyzedBatch: the hop costs faust far more per record than delivery's fan-out per alert."""

    alerts: list[Alert]
    v: int = SCHEMA_VERSION


def alert_records(alerts: list[Alert]) -> list[tuple[bytes, bytes]]:
    """(key, encoded AlertBatch) records holding `alerts` in order, within the batch limits."""
    head = b'{"v":' + str(SCHEMA_VERSION).encode() + b',"alerts":['
    out, first = [], 0
    for chunk in _chunks([_encoder.encode(a) for a in alerts]):
        out.append((alerts[first].id.encode(), head + b",".join(chunk) + b"]}"))
        first += len(chunk)
    return out


class RuleItem(msgspec.Struct, frozen=True, kw_only=True):
    """An item that satisfies a rule over many items: its group values, new_term values, and
    what an alert would show of it."""

    rule: str
    at: float
    groups: list[str] = msgspec.field(default_factory=list)
    values: list[str] = msgspec.field(default_factory=list)
    item: str = ""
    title: str = ""
    url: str = ""
    source: str = ""
    story: str = ""
    outlets: int = 1
    topics: list[str] = msgspec.field(default_factory=list)


class RuleEvent(msgspec.Struct, frozen=True, kw_only=True):
    """On warwire.rule-events, keyed by rule: the items of one stage-2 batch that satisfy the
    rule (kind "items"), an alert to be put in a digest (kind "digest"), or a tick (kind "tick",
    one per partition every few seconds) that lets time-driven rules and digests act when
    nothing arrives."""

    kind: str
    rule: str = ""
    at: float = 0.0
    items: list[RuleItem] = msgspec.field(default_factory=list)
    alert: Alert | None = None
    # The rule as the stage that sent the event had it loaded (alerts.model.RuleSpec as plain
    # data) and its receivers: rule-set reloads are per worker, and the aggregate stage uses
    # these for a rule it has not loaded (yet), instead of dropping the event.
    spec: dict[str, Any] | None = None
    receivers: list[str] = msgspec.field(default_factory=list)
    v: int = SCHEMA_VERSION


class DeliveryTask(msgspec.Struct, frozen=True, kw_only=True):
    """One alert owed to one receiver, on the deliveries topic (keyed by story, so that a story's
    tasks and a slack-app receiver's message for it share a partition): the attempt it is on and
    when that attempt is due. A task with `story` instead of `alert` asks a slack-app receiver
    to edit the story's message as outlets join (alerts/slack_app.py)."""

    alert: Alert | None = None
    receiver: str
    attempt: int
    not_before: float
    last_error: str = ""
    story: StoryUpdate | None = None
    v: int = SCHEMA_VERSION


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A record warwire gave up on, with the reason and where it came from."""

    reason: str
    stage: str
    topic: str
    partition: int = -1
    offset: int = -1
    value: str = ""
    at: datetime | None = None
    v: int = SCHEMA_VERSION


class FeedState(msgspec.Struct, frozen=True, kw_only=True):
    """What a connector remembers of a feed across restarts (compacted topic, keyed by feed URL):
    the entry ids it has published (newest last, bounded), each entry's content digest and
    revision (same order; empty in states written before them), and its conditional-GET validators."""

    feed: str
    seen: list[str] = msgspec.field(default_factory=list)
    digests: list[str] = msgspec.field(default_factory=list)
    revisions: list[int] = msgspec.field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    permanent_url: str | None = None
    v: int = SCHEMA_VERSION


class FeedHealth(msgspec.Struct, frozen=True, kw_only=True):
    """A feed's health after a fetch: published on the feed-health topic, keyed by feed URL."""

    feed: str
    source: str
    healthy: bool
    outcome: str
    consecutive_errors: int
    at: datetime
    detail: str = ""
    v: int = SCHEMA_VERSION


_encoder = msgspec.json.Encoder()
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}
R = TypeVar("R")

# Items larger than this are refused at decode time: no feed entry needs it, a poison value does.
MAX_RECORD_BYTES = 1_000_000


def encode(record: msgspec.Struct) -> bytes:
    """Encode any record of this module as compact JSON bytes."""
    return _encoder.encode(record)


def decode(kind: type[R], data: bytes | str) -> R:
    """Decode `data` as a `kind` record, or raise RecordError saying why."""
    if data is None:
        raise RecordError("empty value (tombstone)")
    if len(data) > MAX_RECORD_BYTES:
        raise RecordError(f"value of {len(data)} bytes exceeds the {MAX_RECORD_BYTES} byte limit")
    dec = _decoders.get(kind)
    if dec is None:
        dec = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        if isinstance(data, str):
            data = data.encode("utf-8", errors="surrogatepass")  # lone surrogates: invalid UTF-8 below
        rec: R = dec.decode(data)
    except msgspec.DecodeError as exc:
        raise RecordError(f"not a valid {kind.__name__}: {str(exc)[:300]}") from exc
    except UnicodeError as exc:  # msgspec checks UTF-8 while decoding a string
        raise RecordError(f"not a valid {kind.__name__}: a string is not valid UTF-8") from exc
    except RecursionError as exc:
        raise RecordError(f"not a valid {kind.__name__}: nested too deeply") from exc
    version = getattr(rec, "v", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        shown = str(version) if abs(version) < 10**12 else f"{str(version)[:6]}… ({len(str(version))} digits)"
        hint = "; upgrade warwire to read newer records" if version > SCHEMA_VERSION else ""
        raise RecordError(f"{kind.__name__} schema version {shown} is not one this warwire reads "
                          f"(it reads version {SCHEMA_VERSION}){hint}")
    return rec


def to_builtins(record: msgspec.Struct) -> Any:
    """The record as plain dicts and lists (for CLI output and payload rendering)."""
    return msgspec.to_builtins(record)


def utcnow() -> datetime:
    return datetime.now(UTC)
