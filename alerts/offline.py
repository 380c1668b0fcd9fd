"""The aggregate stage over a dict instead of the worker's table: `warwire rules test` runs the
same decisions (alerts.aggregate_core) on items from a file. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from alerts.aggregate_core import AggResult, on_digest, on_item, on_tick
from streams.schema import Alert, RuleItem


class DictStore:
    """The aggregates table as a dict: reads through `get_many`, `apply` stores an event's
    writes (b"" deletes), as the aggregate agent does per event."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.data.get(k) for k in keys]

    def apply(self, res: AggResult) -> AggResult:
        for k, v in res.writes.items():
            if v:
                self.data[k] = v
            else:
                self.data.pop(k, None)
        return res


class Offline(DictStore):
    """The aggregate stage over a dict, for `warwire rules test`: the same functions as the
    worker's aggregate agent, with a tick at every item's time."""

    def __init__(self, rules: Sequence[object]) -> None:
        super().__init__()
        self.rules = {r.name: r for r in rules}  # type: ignore[attr-defined]

    def step(self, events: Sequence[RuleItem], alerts: Sequence[Alert], now: float) -> tuple[list[Alert], list[Alert]]:
        """Rule events and alerts of one item, then a tick: (alerts to print, digests to print);
        alerts of digest rules are held for their digest."""
        out: list[Alert] = []
        for ev in events:
            rule = self.rules.get(ev.rule)
            if rule is not None:
                out += self.apply(on_item(rule.spec, rule.receivers, ev, self.get_many, now)).alerts  # type: ignore[attr-defined]
        shown = []
        for alert in [*alerts, *out]:
            rule = self.rules.get(alert.rule)
            if rule is not None and rule.spec.digest:  # type: ignore[attr-defined]
                self.apply(on_digest(rule.spec, alert, self.get_many, now))  # type: ignore[attr-defined]
            else:
                shown.append(alert)
        tick = self.tick(now)
        return shown + tick[0], tick[1]

    def tick(self, now: float) -> tuple[list[Alert], list[Alert]]:
        specs = [r.spec for r in self.rules.values() if r.spec.aggregate or r.spec.digest]  # type: ignore[attr-defined]
        res = self.apply(on_tick(specs, lambda s: self.rules[s.name].receivers, self.get_many, now))  # type: ignore[attr-defined]
        return res.alerts, res.notifications
