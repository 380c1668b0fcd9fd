"""Rule evaluation: compile a RuleSetSpec once, then decide per tagged item. Pure.

`evaluate` says which rules an item satisfies and under which throttle key; the shell looks up
when each (rule, key) last fired and asks `should_notify`; `make_alert` builds the Alert. An
alert's id depends only on the rule, the key and the item that fired it, so reprocessing the same
item after a crash yields the same id, and the delivery ledger turns it into a no-op.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from alerts.model import ReceiverSpec, RuleSetSpec, RuleSpec
from alerts.query import Fields, item_fields
from alerts.query import parse as parse_query
from streams.schema import Alert, TaggedItem


class ItemWords:
    """An item's normalised words, computed at most once per evaluation, for the rules that ask."""

    __slots__ = ("tagged", "_fields")

    def __init__(self, tagged: TaggedItem) -> None:
        self.tagged = tagged
        self._fields: Fields | None = None

    @property
    def fields(self) -> Fields:
        if self._fields is None:
            self._fields = item_fields(self.tagged.item.title, self.tagged.item.summary)
        return self._fields


Predicate = Callable[[TaggedItem, ItemWords], bool]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    spec: RuleSpec
    predicate: Predicate
    receivers: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    def as_sent(self) -> dict[str, Any]:
        """The rule as a RuleEvent carries it (`spec`, `receivers`), for an aggregate stage that
        has not loaded it (yet)."""
        return {"spec": msgspec.to_builtins(self.spec), "receivers": list(self.receivers)}


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[CompiledRule, ...]
    receivers: dict[str, ReceiverSpec]
    version: str

    def get(self, name: str) -> CompiledRule | None:
        return next((r for r in self.rules if r.name == name), None)


@dataclass(frozen=True, slots=True)
class Firing:
    rule: CompiledRule
    key: str


def _predicate(spec: RuleSpec) -> Predicate:
    checks: list[Predicate] = []
    if spec.topics_any:
        any_of = frozenset(spec.topics_any)
        checks.append(lambda t, w: not any_of.isdisjoint(t.topics))
    if spec.topics_all:
        all_of = frozenset(spec.topics_all)
        checks.append(lambda t, w: all_of.issubset(t.topics))
    if spec.languages:
        langs = frozenset(spec.languages)
        checks.append(lambda t, w: t.item.lang in langs)
    if spec.sources:
        sources = frozenset(spec.sources)
        checks.append(lambda t, w: t.item.source in sources)
    if spec.labels:
        wanted = dict(spec.labels)
        checks.append(lambda t, w: all(t.item.labels.get(k) == v for k, v in wanted.items()))
    if spec.query:
        query = parse_query(spec.query)
        checks.append(lambda t, w: query(w.fields))
    if spec.min_outlets > 1:
        n = spec.min_outlets
        checks.append(lambda t, w: t.outlets >= n)
    return lambda t, w: all(c(t, w) for c in checks)


def compile_rules(spec: RuleSetSpec, configured: Mapping[str, bool] | None = None) -> RuleSet:
    """Compile every rule. `configured` says which receivers have their URL set; a rule whose
    receivers are all unconfigured (or that names none) goes to the console."""
    rules = []
    for r in spec.rules:
        usable = tuple(n for n in r.receivers if configured is None or configured.get(n, n == "console"))
        rules.append(CompiledRule(r, _predicate(r), usable or ("console",)))
    return RuleSet(tuple(rules), dict(spec.receivers), spec.version)


STORY_LEVEL = frozenset({"coverage"})


def evaluate(ruleset: RuleSet, tagged: TaggedItem) -> list[Firing]:
    """The rules this item satisfies, each with its throttle key; story-level rules (coverage)
    first, so that their alerts can inhibit the same story's per-item alerts."""
    out: list[Firing] = []
    words = ItemWords(tagged)
    for rule in ruleset.rules:
        if not rule.predicate(tagged, words):
            continue
        if rule.spec.type == "coverage" and tagged.duplicate_of is None and rule.spec.min_outlets > 1:
            continue  # a story's first item cannot have reached several outlets yet
        key = tagged.story if rule.spec.key == "story" else tagged.item.id
        out.append(Firing(rule, key))
    return sorted(out, key=lambda f: f.rule.spec.type not in STORY_LEVEL)


def inhibited_by(firing: Firing, ruleset: RuleSet, story: str, last_fired: Callable[[str], float | None],
                 now: float) -> str | None:
    """The story-level rule whose alert for this story, still within its realert window,
    inhibits this per-item alert; None when nothing does."""
    if firing.rule.spec.type in STORY_LEVEL:
        return None
    for rule in ruleset.rules:
        if rule.spec.type in STORY_LEVEL:
            fired = last_fired(f"{rule.name}|{story}")
            if fired is not None and now - fired < rule.spec.realert_s:
                return rule.name
    return None


def should_notify(last_sent: float | None, now: float, realert_s: float) -> bool:
    """True when (rule, key) has not fired within the realert window."""
    return last_sent is None or now - last_sent >= realert_s


def throttle_key(firing: Firing) -> str:
    return f"{firing.rule.name}|{firing.key}"


def alert_id(rule: str, key: str, item_id: str) -> str:
    return hashlib.blake2b(f"{rule}|{key}|{item_id}".encode(), digest_size=12).hexdigest()


def make_alert(firing: Firing, tagged: TaggedItem, now: float) -> Alert:
    item = tagged.item
    return Alert(
        id=alert_id(firing.rule.name, firing.key, item.id),
        rule=firing.rule.name, severity=firing.rule.spec.severity, key=firing.key,
        fired_at=datetime.fromtimestamp(now, UTC), receivers=list(firing.rule.receivers),
        title=item.title, url=item.url, source=item.source, story=tagged.story,
        related_to=tagged.related_to or "", outlets=tagged.outlets, sources=list(tagged.sources), topics=list(tagged.topics),
        matches=list(tagged.matches), summary=item.summary[:500], item=item.id, lang=item.lang,
    )
