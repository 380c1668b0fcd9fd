"""Silences: time-bounded mutes by rule, topic or source. Pure; stored by alerts/silence_store.py.

A silence matches an alert when it is active (starts ≤ now < ends) and every matcher it has
(rule, topic, source) matches. A silence needs at least one matcher: muting everything is what
stopping the worker is for.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import msgspec

from streams.schema import SCHEMA_VERSION, Alert


class Silence(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    starts_at: float
    ends_at: float
    rule: str | None = None
    topic: str | None = None
    source: str | None = None
    story: str | None = None  # one story, muted by an editor from Slack
    comment: str = ""
    created_by: str = ""
    v: int = SCHEMA_VERSION

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, alert: Alert, now: float) -> bool:
        return (self.active(now)
                and (self.rule is None or self.rule == alert.rule)
                and (self.topic is None or self.topic in alert.topics)
                and (self.source is None or self.source == alert.source)
                and (self.story is None or self.story == alert.story))

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in (("rule", self.rule), ("topic", self.topic), ("source", self.source),
                                                    ("story", self.story)) if v]
        return " ".join(parts)


def new_silence(now: float, duration_s: float, rule: str | None = None, topic: str | None = None,
                source: str | None = None, comment: str = "", created_by: str = "", story: str | None = None) -> Silence:
    if not (rule or topic or source or story):
        raise ValueError("a silence needs at least one of rule, topic, source or story")
    if duration_s <= 0:
        raise ValueError("a silence needs a positive duration")
    return Silence(id=uuid.uuid4().hex[:12], starts_at=now, ends_at=now + duration_s, rule=rule, topic=topic,
                   source=source, story=story, comment=comment, created_by=created_by)


def silenced_by(silences: Iterable[Silence], alert: Alert, now: float) -> Silence | None:
    return next((s for s in silences if s.matches(alert, now)), None)


def expired(silence: Silence, now: float) -> Silence:
    return msgspec.structs.replace(silence, ends_at=min(silence.ends_at, now))
