"""The aggregate stage's decisions: what a rule event, a digest entry or a tick changes, and
which alerts and digest notifications it produces. Pure: state is read through `get_many` and
written back from the returned `AggResult` (the shell is alerts/aggregate_stage.py).

State keys (the worker's `aggregates` table):
  g:<rule>            RuleState: when the rule was first seen here, its groups and when each was last seen
  w:<rule>|<group>    Window (alerts/windows.py)
  t:<rule>|<value>    when a new_term value was last seen
  d:<rule>|<group>    DigestState: alerts waiting for the group's next notification
  k:<partition>       the digest rules with state in that partition (a rule reloaded without
                      group_wait, or removed, has its waiting entries sent at the next tick)
  x:<partition>       Applied: which rule events of that partition the state already holds, and
                      what the recent ones sent (`on_event`: a replayed event changes nothing and
                      sends the same alerts again)

Digests follow Alertmanager's timing: the first alert of a group waits `group_wait` for others,
later ones are sent together at most every `group_interval`, and a group quiet for
`repeat_interval` is forgotten, so that its next alert starts a new group (news alerts do not
resolve, so there is nothing to repeat).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import msgspec

from alerts import windows as agg
from alerts.model import RuleSpec
from alerts.silences import Silence, silenced_by
from streams.schema import Alert, DigestEntry, RuleEvent, RuleItem

GetMany = Callable[[Sequence[str]], Sequence[bytes | None]]
MAX_GROUPS = 1000
MAX_DIGEST_ENTRIES = 50
# Rule events remembered per partition as applied (a replay after a crash reaches back at most to
# the last committed offset: about a second of events).
MAX_REMEMBERED = 1024


class RuleState(msgspec.Struct, frozen=True, array_like=True):
    started: float
    groups: dict[str, float]


class DigestState(msgspec.Struct, frozen=True, array_like=True):
    entries: list[DigestEntry]
    first_at: float
    last_sent: float | None
    last_seen: float
    sent: int = 0
    dropped: int = 0  # alerts of this group beyond the MAX_DIGEST_ENTRIES listed (counted, not lost silently)
    # where and how the group's digest goes, kept for a rule reloaded without group_wait or removed
    receivers: list[str] = msgspec.field(default_factory=list)
    severity: str = "warning"


class Applied(msgspec.Struct, frozen=True, array_like=True):
    """The rule events of one partition whose effects the state holds (key x:<partition>): each
    remembered offset with a digest of the event, and for those that sent something, what they
    sent (alerts after silences, digest notifications)."""

    seen: dict[int, int]
    sent: dict[int, tuple[list[Alert], list[Alert]]]


@dataclass
class AggResult:
    alerts: list[Alert] = field(default_factory=list)  # to the alerts topic
    notifications: list[Alert] = field(default_factory=list)  # digests, to deliver as they are
    writes: dict[str, bytes] = field(default_factory=dict)
    suppressed: list[tuple[str, str]] = field(default_factory=list)
    replay: bool = False  # the event was applied before: nothing changed, the same alerts again


_enc = msgspec.msgpack.Encoder()
_rule_dec = msgspec.msgpack.Decoder(RuleState)
_win_dec = msgspec.msgpack.Decoder(agg.Window)
_float_dec = msgspec.msgpack.Decoder(float)
_digest_dec = msgspec.msgpack.Decoder(DigestState)
_applied_dec = msgspec.msgpack.Decoder(Applied)


class Rules(Protocol):
    """What `on_event` needs of the loaded rules (the worker's RuleSet, or the offline one)."""

    def spec(self, name: str) -> RuleSpec | None: ...
    def receivers(self, spec: RuleSpec) -> tuple[str, ...]: ...
    def timed(self, partition: int) -> Sequence[RuleSpec]: ...


def on_event(ev: RuleEvent, partition: int, offset: int, digest: int, rules: Rules, get_many: GetMany,
             now: float, silences: Sequence[Silence] = ()) -> AggResult:
    """One rule event (items, a digest entry, a tick) read from `partition` at `offset`, whose
    value hashes to `digest`. An event the state already holds (read again after a crash or a
    rebalance) counts nothing twice and fires nothing new: it gets what it sent the first time,
    with the same alert ids, for the delivery ledger to drop what was delivered; nothing it fired
    is lost to the throttle it set."""
    key = f"x:{partition}"
    data = get_many([key])[0]
    applied = _applied_dec.decode(data) if data else Applied({}, {})
    if applied.seen.get(offset) == digest:
        alerts, notes = applied.sent.get(offset, ([], []))
        return AggResult(alerts=list(alerts), notifications=list(notes), replay=True)
    res = _dispatch(ev, partition, rules, get_many, now)
    fired = []
    for alert in res.alerts:
        if silences and silenced_by(silences, alert, now) is not None:
            res.suppressed.append((alert.rule, "silence"))
        else:
            fired.append(alert)
    res.alerts = fired
    seen = {**applied.seen, offset: digest}
    sent = dict(applied.sent)
    if fired or res.notifications:
        sent[offset] = (fired, res.notifications)
    if len(seen) > MAX_REMEMBERED:
        seen = dict(sorted(seen.items())[-MAX_REMEMBERED:])
        sent = {o: v for o, v in sent.items() if o in seen}
    res.writes[key] = _enc.encode(Applied(seen, sent))
    return res


def _dispatch(ev: RuleEvent, partition: int, rules: Rules, get_many: GetMany, now: float) -> AggResult:
    if ev.kind == "tick":
        res = on_tick(rules.timed(partition), rules.receivers, get_many, now)
        _flush_stranded(partition, rules, lambda keys: _overlaid(keys, res.writes, get_many), res, now)
        return res
    spec = rules.spec(ev.rule)
    receivers = rules.receivers(spec) if spec is not None else tuple(ev.receivers)
    if spec is None:
        spec = _event_spec(ev)  # a rule this worker has not loaded (yet): as the sender had it
    if spec is None:
        return AggResult()
    if ev.kind == "digest" and ev.alert is not None:
        res = on_digest(spec, ev.alert, get_many, now)
        _register_digest(partition, spec.name, lambda keys: _overlaid(keys, res.writes, get_many), res)
        return res
    if not spec.aggregate:
        return AggResult()
    res = AggResult()
    for it in ev.items:  # each sees the state the ones before it left
        one = on_item(spec, receivers, it, lambda keys: _overlaid(keys, res.writes, get_many), now)
        res.writes.update(one.writes)
        res.alerts += one.alerts
        res.suppressed += one.suppressed
    return res


def _event_spec(ev: RuleEvent) -> RuleSpec | None:
    if not ev.spec:
        return None
    try:
        return msgspec.convert(ev.spec, RuleSpec)
    except (msgspec.ValidationError, TypeError):
        return None


_names_dec = msgspec.msgpack.Decoder(list[str])


def _register_digest(partition: int, rule: str, get_many: GetMany, res: AggResult) -> None:
    key = f"k:{partition}"
    data = get_many([key])[0]
    names = _names_dec.decode(data) if data else []
    if rule not in names:
        res.writes[key] = _enc.encode(sorted([*names, rule]))


def _flush_stranded(partition: int, rules: Rules, get_many: GetMany, res: AggResult, now: float) -> None:
    """Digest rules with state here that are no digest rules any more (reloaded without
    group_wait, or removed): their waiting entries go out at once as a last digest per group, to
    the receivers they were bound for, and their digest state is forgotten."""
    key = f"k:{partition}"
    data = get_many([key])[0]
    if not data:
        return
    names = _names_dec.decode(data)
    keep = []
    st = _State(get_many, res)
    for name in names:
        spec = rules.spec(name)
        if spec is not None and spec.digest:
            keep.append(name)
            continue
        rs = st.get(f"g:{name}", _rule_dec)
        for group in (rs.groups if isinstance(rs, RuleState) else {}):
            dkey = f"d:{name}|{group}"
            ds = st.get(dkey, _digest_dec)
            if not isinstance(ds, DigestState):
                continue
            if ds.entries:
                as_sent = spec or RuleSpec(name=name, type="match", severity=ds.severity)
                res.notifications.append(_digest_alert(as_sent, tuple(ds.receivers) or ("console",), group, ds, now))
            res.writes[dkey] = b""
    if keep != names:
        res.writes[key] = _enc.encode(keep)


def _overlaid(keys: Sequence[str], writes: dict[str, bytes], get_many: GetMany) -> list[bytes | None]:
    stored = get_many(keys)
    return [writes[k] if k in writes else v for k, v in zip(keys, stored, strict=True)]


class _State:
    """Reads through `get_many`, remembering this event's own writes."""

    def __init__(self, get_many: GetMany, res: AggResult) -> None:
        self.get_many, self.res = get_many, res

    def get(self, key: str, dec: msgspec.msgpack.Decoder) -> object:  # type: ignore[type-arg]
        data = self.res.writes[key] if key in self.res.writes else self.get_many([key])[0]
        return dec.decode(data) if data else None  # b"" is a deleted key

    def put(self, key: str, value: object) -> None:
        self.res.writes[key] = _enc.encode(value)

    def rule(self, spec: RuleSpec, now: float) -> RuleState:
        st = self.get(f"g:{spec.name}", _rule_dec)
        return st if isinstance(st, RuleState) else RuleState(started=now, groups={})

    def window(self, spec: RuleSpec, group: str) -> agg.Window | None:
        w = self.get(f"w:{spec.name}|{group}", _win_dec)
        return w if isinstance(w, agg.Window) else None


def on_item(spec: RuleSpec, receivers: tuple[str, ...], ev: RuleItem, get_many: GetMany, now: float) -> AggResult:
    """An item that satisfies a frequency, spike, new_term or flatline rule."""
    res = AggResult()
    st = _State(get_many, res)
    rs = st.rule(spec, now)
    groups = dict(rs.groups)
    example = agg.Example(ev.item, ev.title, ev.url, ev.source)
    if spec.type == "new_term":
        last = {v: st.get(f"t:{spec.name}|{v}", _float_dec) for v in ev.values}
        new = agg.new_values(spec, ev.values, last, rs.started, now)  # type: ignore[arg-type]
        for v in ev.values:
            st.put(f"t:{spec.name}|{v}", now)
        if new:
            group = ",".join(new)[:200]
            res.alerts.append(_alert(spec, receivers, group, now, f"new {spec.field}: {', '.join(new)} (not seen within "
                                                                   f"{agg._dur(spec.window_s)})", [example], ev))
    else:
        for group in ev.groups:
            w = agg.observe(spec, st.window(spec, group), ev.at, example, now)
            groups[group] = now
            verdict = {"frequency": agg.frequency, "spike": agg.spike}.get(spec.type)
            if verdict is not None:
                v = verdict(spec, w, now)
                if v.fire and agg.can_fire(spec, w, now):
                    res.alerts.append(_alert(spec, receivers, group, now, v.reason, w.examples, ev))
                    w = msgspec.structs.replace(w, fired=now)
                elif v.fire:
                    res.suppressed.append((spec.name, "throttle"))
            st.put(f"w:{spec.name}|{group}", w)
    if len(groups) > MAX_GROUPS:
        groups = dict(sorted(groups.items(), key=lambda kv: kv[1])[-MAX_GROUPS:])
    st.put(f"g:{spec.name}", RuleState(rs.started, groups))
    return res


def on_tick(specs: Sequence[RuleSpec], receivers: Callable[[RuleSpec], tuple[str, ...]], get_many: GetMany,
            now: float) -> AggResult:
    """Time passing, for the rules whose state lives in this partition: flatline and spike-down
    rules may fire, and digests that are due are sent."""
    res = AggResult()
    st = _State(get_many, res)
    for spec in specs:
        rs = st.rule(spec, now)
        if f"g:{spec.name}" not in res.writes and st.get(f"g:{spec.name}", _rule_dec) is None:
            st.put(f"g:{spec.name}", rs)  # the rule starts being watched now
        if spec.digest:
            _flush_digests(spec, receivers(spec), rs, st, now)
        if spec.type == "flatline" or (spec.type == "spike" and spec.spike_type != "up"):
            groups = list(rs.groups) or (["*"] if spec.group_by == "none" else [])
            for group in groups:
                w = st.window(spec, group)
                v = agg.flatline(spec, w, rs.started, now) if spec.type == "flatline" else agg.spike(spec, w, now)
                if v.fire and agg.can_fire(spec, w, now):
                    res.alerts.append(_alert(spec, receivers(spec), group, now, v.reason, w.examples if w else [], None))
                    base = w or agg.Window(bucket_s=agg.bucket_s(spec), counts={}, started=rs.started)
                    st.put(f"w:{spec.name}|{group}", msgspec.structs.replace(base, fired=now))
    return res


def on_digest(spec: RuleSpec, alert: Alert, get_many: GetMany, now: float) -> AggResult:
    """An alert of a digest rule joins its group's next notification."""
    res = AggResult()
    st = _State(get_many, res)
    group = alert.key if spec.aggregate else "*"
    key = f"d:{spec.name}|{group}"
    ds = st.get(key, _digest_dec)
    entry = DigestEntry(id=alert.id, title=alert.title, url=alert.url, source=alert.source, outlets=alert.outlets,
                        topics=list(alert.topics), fired_at=alert.fired_at)
    if not isinstance(ds, DigestState) or now - ds.last_seen > spec.repeat_interval_s:
        ds = DigestState(entries=[entry], first_at=now, last_sent=None, last_seen=now,
                         receivers=list(alert.receivers), severity=alert.severity)
    elif all(e.id != alert.id for e in ds.entries):
        entries = [*ds.entries, entry]
        over = max(0, len(entries) - MAX_DIGEST_ENTRIES)
        ds = msgspec.structs.replace(ds, entries=entries[over:], last_seen=now, dropped=ds.dropped + over)
    st.put(key, ds)
    rs = st.rule(spec, now)
    st.put(f"g:{spec.name}", RuleState(rs.started, {**rs.groups, group: now}))
    return res


def digest_due(spec: RuleSpec, ds: DigestState, now: float) -> bool:
    if not ds.entries:
        return False
    if ds.last_sent is None:
        return now - ds.first_at >= (spec.group_wait_s or 0.0)
    return now - ds.last_sent >= spec.group_interval_s


def _flush_digests(spec: RuleSpec, receivers: tuple[str, ...], rs: RuleState, st: _State, now: float) -> None:
    groups = dict(rs.groups)
    for group in list(groups):
        key = f"d:{spec.name}|{group}"
        ds = st.get(key, _digest_dec)
        if not isinstance(ds, DigestState):
            continue
        if not ds.entries and now - ds.last_seen > spec.repeat_interval_s:
            st.res.writes[key] = b""  # forgotten: the next alert starts a new group
            del groups[group]
            continue
        if digest_due(spec, ds, now):
            st.res.notifications.append(_digest_alert(spec, receivers, group, ds, now))
            st.put(key, msgspec.structs.replace(ds, entries=[], last_sent=now, sent=ds.sent + 1, dropped=0))
    if groups != rs.groups:
        st.put(f"g:{spec.name}", RuleState(rs.started, groups))


def _digest_alert(spec: RuleSpec, receivers: tuple[str, ...], group: str, ds: DigestState, now: float) -> Alert:
    first = ds.entries[0]
    n = len(ds.entries) + ds.dropped
    ident = hashlib.blake2b(f"digest|{spec.name}|{group}|{ds.first_at}|{ds.sent}".encode(), digest_size=12).hexdigest()
    topics = sorted({t for e in ds.entries for t in e.topics})
    title = first.title if n == 1 else f"{n} alerts of {spec.name}" + (f" ({group})" if group != "*" else "")
    return Alert(id=ident, rule=spec.name, severity=spec.severity, key=group, fired_at=datetime.fromtimestamp(now, UTC),
                 receivers=list(receivers), title=title, url=first.url, source=first.source,
                 outlets=max(e.outlets for e in ds.entries), topics=topics, digest=list(ds.entries), digest_total=n,
                 reason=f"digest of {n} alert{'s' if n != 1 else ''}"
                        + (f" (the newest {len(ds.entries)} listed)" if ds.dropped else ""))


def _alert(spec: RuleSpec, receivers: tuple[str, ...], group: str, now: float, reason: str,
           examples: Sequence[agg.Example], ev: RuleItem | None) -> Alert:
    head = f"{spec.name}" + (f" ({group})" if group not in ("*", "") else "")
    latest = examples[0] if examples else None
    summary = "\n".join(f"• {e.title} ({e.source})" for e in examples)
    return Alert(id=agg.aggregate_alert_id(spec.name, group, now, spec.realert_s), rule=spec.name,
                 severity=spec.severity, key=group, fired_at=datetime.fromtimestamp(now, UTC), receivers=list(receivers),
                 title=f"{head}: {reason}", url=latest.url if latest else "", source=latest.source if latest else "",
                 story=ev.story if ev else "", outlets=ev.outlets if ev else 1,
                 topics=list(ev.topics) if ev else [], summary=summary[:500], reason=reason)

