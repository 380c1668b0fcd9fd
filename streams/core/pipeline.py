"""One item through tag → dedupe → rules, as pure functions of the item, the config and state.

Stage 1 (`analyze`) needs no state: it tags and fingerprints. Stage 2 (`decide`) needs the dedupe
index, the stories and the throttle state, all of one language shard. The worker's agents and the
offline CLIs (`warwire tag`, `warwire dedupe`) call the same functions; only where state lives
differs (RocksDB tables vs dicts). State is read through callables and written back from the
returned `StepResult`.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from alerts.engine import RuleSet, evaluate, inhibited_by, make_alert, should_notify, throttle_key
from alerts.silences import Silence, silenced_by
from streams.core import dedupe
from streams.core.tagging import Taxonomy, tag
from streams.schema import Alert, AnalyzedItem, NewsItem, StoryUpdate, TaggedItem

Get = Callable[[str], bytes | None]


@dataclass(frozen=True, slots=True)
class StepResult:
    tagged: TaggedItem
    alerts: list[Alert]
    suppressed: list[tuple[str, str]]  # (rule, reason)
    index_writes: dict[str, bytes]
    story_write: tuple[str, bytes]
    throttle_writes: dict[str, float] = field(default_factory=dict)
    story_update: StoryUpdate | None = None


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
    index_get: Get,
    story_get: Get,
    throttle_get: Callable[[str], float | None],
    now: float,
    horizon_s: float = dedupe.DEFAULT_HORIZON_S,
    silences: Sequence[Silence] = (),
) -> StepResult:
    """Stage 2: the item's story, the story's outlets, and the alerts its rules fire (unless
    inhibited by a story-level alert, silenced, or throttled, in that order)."""
    fp, item = analyzed.fingerprint, analyzed.item
    keys = fp.lookup_keys()
    found = {k: dedupe.decode_entries(index_get(k)) for k in keys}
    decision = dedupe.decide(fp, found, now, horizon_s)
    entry = dedupe.index_entry(fp, decision, now)
    index_writes = {
        k: dedupe.encode_entries(dedupe.merge_entries(found[k], entry, now, horizon_s)) for k in keys
    }
    story = dedupe.add_to_story(dedupe.decode_story(story_get(decision.story)), decision, fp, now)
    tagged = TaggedItem(
        item=item, story=decision.story, duplicate_of=decision.duplicate_of,
        duplicate_reason=decision.reason, outlets=max(story.outlets, 1), sources=list(story.sources),
        topics=analyzed.topics, scores=analyzed.scores, matches=analyzed.matches,
    )
    alerts: list[Alert] = []
    suppressed: list[tuple[str, str]] = []
    throttle_writes: dict[str, float] = {}
    if rules is not None:

        def last_fired(key: str) -> float | None:
            return throttle_writes.get(key) or throttle_get(key)

        for firing in evaluate(rules, tagged):
            tk = throttle_key(firing)
            last = last_fired(tk)
            if inhibited_by(firing, rules, tagged.story, last_fired, now):
                suppressed.append((firing.rule.name, "inhibited"))
            elif should_notify(last, now, firing.rule.spec.realert_s):
                alert = make_alert(firing, tagged, now)
                if silences and silenced_by(silences, alert, now) is not None:
                    suppressed.append((firing.rule.name, "silence"))
                    continue
                alerts.append(alert)
                throttle_writes[tk] = now
            else:
                suppressed.append((firing.rule.name, "throttle"))
    update = StoryUpdate(
        story=decision.story, first_item=story.first, latest_item=item.id, title=item.title[:300],
        lang=fp.lang, started=datetime.fromtimestamp(story.started, UTC), updated=datetime.fromtimestamp(now, UTC),
        items=story.items, outlets=max(story.outlets, 1), sources=list(story.sources), topics=tagged.topics)
    return StepResult(tagged, alerts, suppressed, index_writes,
                      (decision.story, dedupe.encode_story(story)), throttle_writes, update)


@dataclass
class MemoryState:
    """Dict-backed state for the offline CLIs and tests: the same shapes as the worker's tables."""

    index: MutableMapping[str, bytes] = field(default_factory=dict)
    stories: MutableMapping[str, bytes] = field(default_factory=dict)
    throttle: MutableMapping[str, float] = field(default_factory=dict)

    def run(self, item: NewsItem, taxonomy: Taxonomy, rules: RuleSet | None, now: float,
            horizon_s: float = dedupe.DEFAULT_HORIZON_S) -> StepResult:
        res = decide(analyze(item, taxonomy), rules=rules, index_get=self.index.get,
                     story_get=self.stories.get, throttle_get=self.throttle.get, now=now,
                     horizon_s=horizon_s)
        self.index.update(res.index_writes)
        self.stories[res.story_write[0]] = res.story_write[1]
        self.throttle.update(res.throttle_writes)
        return res
