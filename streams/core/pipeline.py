"""One item through tag → dedupe → rules, as pure functions of the item, the config and state.

Stage 1 (`analyze`) needs no state: it tags and fingerprints. Stage 2 (`decide`) needs the dedupe
index, the stories and the throttle state, all of one language shard. The worker's agents and the
offline CLIs (`warwire tag`, `warwire dedupe`) call the same functions; only where state lives
differs (RocksDB tables vs dicts). State is read through callables and written back from the
returned `StepResult`.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from alerts.engine import RuleSet, evaluate, inhibited_by, make_alert, should_notify, throttle_key
from alerts.model import RuleSpec
from alerts.silences import Silence, silenced_by
from alerts.windows import names
from streams.core import dedupe
from streams.core.tagging import Taxonomy, tag
from streams.schema import (
    Alert,
    AnalyzedItem,
    NewsItem,
    RecordError,
    RuleItem,
    StoryUpdate,
    TaggedItem,
    batch_records,
    decode,
    encode,
)

GetMany = dedupe.GetMany


class Fired(msgspec.Struct, frozen=True, array_like=True):
    """When a (rule, key) last fired, and for which item (key r:<rule>|<key>)."""

    at: float
    item: str


_fired_dec = msgspec.msgpack.Decoder(Fired)
_enc = msgspec.msgpack.Encoder()


@dataclass(frozen=True, slots=True)
class StepResult:
    tagged: TaggedItem
    alerts: list[Alert]
    suppressed: list[tuple[str, str]]  # (rule, reason)
    writes: dict[str, bytes]  # every state change of this item, stored together
    story_update: StoryUpdate | None = None
    rule_events: list[RuleItem] = field(default_factory=list)  # for rules over many items
    decision: dedupe.Decision | None = None  # how the story was decided (for `warwire dedupe --explain`)


def analyze(item: NewsItem, taxonomy: Taxonomy) -> AnalyzedItem:
    """Stage 1, per item and stateless: topics and the dedupe fingerprint."""
    result = tag(taxonomy, item)
    return AnalyzedItem(item=item, fingerprint=dedupe.fingerprint(item), topics=result.topics,
                        scores=result.scores, matches=result.matches)


def shard_key(analyzed: AnalyzedItem) -> str:
    """Where stage 2 decides an item: by language, since near-duplicates share one."""
    return analyzed.fingerprint.lang


def decide(
    analyzed: AnalyzedItem,
    *,
    rules: RuleSet | None,
    get_many: GetMany,
    now: float,
    horizon_s: float = dedupe.DEFAULT_HORIZON_S,
    silences: Sequence[Silence] = (),
    source: tuple[int, int, int] | None = None,
) -> StepResult:
    """Stage 2: the item's story, the story's outlets, and the alerts its rules fire (unless
    inhibited by a story-level alert, silenced, or throttled, in that order).

    An item decided before (`source`, its partition, offset and place in its batch, matches: a redelivery after a
    crash) gets its first decision again and re-fires the alerts it fired then, with the same
    ids, so the delivery ledger can drop what was already sent; it changes no state.
    """
    fp, item = analyzed.fingerprint, analyzed.item
    decision, writes = dedupe.decide(fp, get_many, now, horizon_s, source)
    skey = dedupe.story_key(decision.story)
    known = dedupe.decode_story(get_many([skey])[0])
    if (decision.replay or decision.reason == "id") and known is not None:
        story = known  # the item is already counted in its story
    else:
        story = dedupe.add_to_story(known, decision, fp, now)
        writes[skey] = dedupe.encode_story(story)
    tagged = TaggedItem(
        item=item, story=decision.story, duplicate_of=decision.duplicate_of,
        duplicate_reason=decision.reason, related_to=story.related_to, outlets=max(story.outlets, 1),
        sources=list(story.sources),
        topics=analyzed.topics, scores=analyzed.scores, matches=analyzed.matches,
    )
    alerts: list[Alert] = []
    suppressed: list[tuple[str, str]] = []
    rule_events: list[RuleItem] = []
    if rules is not None:
        fired: dict[str, Fired | None] = {}

        def last(key: str) -> Fired | None:
            if key not in fired:
                data = get_many(["r:" + key])[0]
                fired[key] = _fired_dec.decode(data) if data else None
            return fired[key]

        def last_fired(key: str) -> float | None:
            f = last(key)
            return None if f is None or (decision.replay and f.item == item.id) else f.at

        for firing in evaluate(rules, tagged):
            if firing.rule.spec.aggregate:
                if not decision.replay:
                    rule_events.append(rule_event(firing.rule.spec, tagged, now))
                continue
            if item.backlog:
                suppressed.append((firing.rule.name, "backlog"))
                continue
            tk = throttle_key(firing)
            if inhibited_by(firing, rules, tagged.story, last_fired, now):
                suppressed.append((firing.rule.name, "inhibited"))
            elif should_notify(last_fired(tk), now, firing.rule.spec.realert_s):
                alert = make_alert(firing, tagged, now)
                if silences and silenced_by(silences, alert, now) is not None:
                    suppressed.append((firing.rule.name, "silence"))
                    continue
                alerts.append(alert)
                if not decision.replay:
                    fired[tk] = Fired(now, item.id)
                    writes["r:" + tk] = _enc.encode(fired[tk])
            else:
                suppressed.append((firing.rule.name, "throttle"))
    # A story is published once a second outlet carries it, and again whenever an outlet joins:
    # single-outlet stories are the items themselves, and most stories never gain an outlet.
    update = None
    if story.outlets >= 2 and (known is None or known.outlets != story.outlets):
        update = StoryUpdate(
            story=decision.story, first_item=story.first, latest_item=item.id, title=item.title[:300],
            lang=fp.lang, started=datetime.fromtimestamp(story.started, UTC), updated=datetime.fromtimestamp(now, UTC),
            items=story.items, outlets=story.outlets, sources=list(story.sources), topics=tagged.topics,
            related_to=story.related_to)
    return StepResult(tagged, alerts, suppressed, writes, update, rule_events, decision)


def rule_time(item: NewsItem, now: float) -> float:
    """When an item counts for rules over many items: its own time (event time, as the story
    tier reads it, with no horizon), so a backlog read after an outage falls into the hours it
    was published in, not into one window (a false frequency or spike alert); a time in the
    future counts as now. How late an item may still count is each window's own span: older
    buckets are dropped (alerts.windows.observe)."""
    published = item.published.timestamp() if item.published else None
    return min(dedupe.event_time(published, now, math.inf), now)


def rule_event(spec: RuleSpec, tagged: TaggedItem, now: float) -> RuleItem:
    """What a rule over many items needs to know of one item that satisfies it."""
    item = tagged.item
    groups = {"none": ["*"], "topic": tagged.topics or ["-"], "source": [item.source or "-"],
              "lang": [item.lang or "und"], "feed": [item.feed or "-"]}[spec.group_by]
    values: list[str] = []
    if spec.type == "new_term":
        values = {"term": sorted({m.term for m in tagged.matches}), "topic": list(tagged.topics),
                  "source": [item.source] if item.source else [], "name": names(item.title)}[spec.field]
    return RuleItem(rule=spec.name, at=rule_time(item, now), groups=groups, values=values, item=item.id,
                    title=item.title[:300], url=item.url, source=item.source, story=tagged.story,
                    outlets=tagged.outlets, topics=list(tagged.topics))


@dataclass
class MemoryState:
    """Dict-backed state for the offline CLIs and tests: the same keys and values as the
    worker's `dedupe` table."""

    data: MutableMapping[str, bytes] = field(default_factory=dict)

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.data.get(k) for k in keys]

    def run(self, item: NewsItem, taxonomy: Taxonomy, rules: RuleSet | None, now: float,
            horizon_s: float = dedupe.DEFAULT_HORIZON_S) -> StepResult:
        res = decide(analyze(item, taxonomy), rules=rules, get_many=self.get_many, now=now, horizon_s=horizon_s)
        self.data.update(res.writes)
        return res


def analyze_values(taxonomy: Taxonomy, values: Sequence[bytes | None]) -> tuple[list[tuple[str, bytes]], list[tuple[int, str]]]:
    """Stage 1 over a batch of raw NewsItem values: the analyzed-topic records to send, as
    (language, encoded AnalyzedBatch), and the (index, reason) of every value that cannot be
    analyzed (it goes to the DLQ)."""
    by_lang: dict[str, list[bytes]] = {}
    errors: list[tuple[int, str]] = []
    for i, value in enumerate(values):
        try:
            analyzed = analyze(decode(NewsItem, value), taxonomy)  # type: ignore[arg-type]
            by_lang.setdefault(shard_key(analyzed), []).append(encode(analyzed))
        except RecordError as exc:
            errors.append((i, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one bad item must not fail its batch
            errors.append((i, f"{type(exc).__name__}: {exc}"))
    return [(lang, rec) for lang, items in by_lang.items() for rec in batch_records(lang, items)], errors
