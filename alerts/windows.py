"""Rules over many items: frequency, spike, new_term and flatline. Pure.

Stage 2 turns every item that satisfies such a rule's conditions into a `RuleEvent` (one per
group value) on warwire.rule-events, keyed by the rule, so that all of a rule's counts live in
one partition whatever the number of workers. The aggregate agent keeps, per (rule, group), a
`Window` of time-bucketed counts and asks the functions below whether to fire; ticks (a record
per partition every few seconds) let flatline and spike-down fire when nothing arrives.

  frequency  at least `threshold` items within `window`                       (ElastAlert frequency)
  spike      items within `window` >= `spike_height` × the baseline rate, up (or down, both),
             with at least `min_current` now and `min_baseline` in the baseline (ElastAlert spike)
  new_term   a value of `field` (matched term, topic, source, or a capitalised name in the title)
             not seen within `window`; quiet for the rule's first `warmup`    (ElastAlert new_term)
  flatline   fewer than `threshold` items within `window`, once the rule has watched for a
             whole window; per group (a source going silent) or for the rule  (ElastAlert flatline)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from alerts.model import RuleSpec

BUCKETS_PER_WINDOW = 12
MAX_EXAMPLES = 5
_NAME = re.compile(r"\b[A-ZÀ-ÖØ-ÞА-ЯЁІЇЄҐ][\w'’-]{2,}|\b[A-Z]{2,}[\w-]*")


class Example(msgspec.Struct, frozen=True, array_like=True):
    item: str
    title: str
    url: str
    source: str


class Window(msgspec.Struct, frozen=True, array_like=True):
    """Counts of one (rule, group) per time bucket, the newest examples, and when the group was
    first seen and last fired."""

    bucket_s: float
    counts: dict[int, int]
    started: float
    examples: list[Example] = msgspec.field(default_factory=list)
    fired: float | None = None


def bucket_s(spec: RuleSpec) -> float:
    return max(1.0, spec.window_s / BUCKETS_PER_WINDOW)


def span_s(spec: RuleSpec) -> float:
    """How far back a rule's counts are needed."""
    return spec.window_s + (spec.baseline_s if spec.type == "spike" else 0.0)


def observe(spec: RuleSpec, w: Window | None, at: float, example: Example | None, now: float) -> Window:
    """The window after an item at time `at` (older buckets than the rule needs are dropped)."""
    b = bucket_s(spec)
    if w is None or w.bucket_s != b:
        w = Window(bucket_s=b, counts={}, started=min(at, now), fired=w.fired if w else None)
    counts = dict(w.counts)
    idx = int(at // b)
    counts[idx] = counts.get(idx, 0) + 1
    oldest = int((now - span_s(spec)) // b) - 1
    counts = {k: v for k, v in counts.items() if k >= oldest}
    examples = ([example, *w.examples][:MAX_EXAMPLES]) if example is not None else w.examples
    return msgspec.structs.replace(w, counts=counts, examples=examples)


def count(w: Window | None, start: float, end: float) -> int:
    """Items in (start, end]; a bucket counts when it starts after `start` (so a window of 12
    buckets is accurate to one bucket)."""
    if w is None:
        return 0
    lo, hi = int(start // w.bucket_s) + 1, int(end // w.bucket_s)
    return sum(v for k, v in w.counts.items() if lo <= k <= hi)


def can_fire(spec: RuleSpec, w: Window | None, now: float) -> bool:
    return w is None or w.fired is None or now - w.fired >= spec.realert_s


@dataclass(frozen=True, slots=True)
class Verdict:
    fire: bool
    current: int
    baseline: float | None = None
    reason: str = ""


def frequency(spec: RuleSpec, w: Window | None, now: float) -> Verdict:
    n = count(w, now - spec.window_s, now)
    return Verdict(n >= spec.threshold, n, reason=f"{n} items within {_dur(spec.window_s)} (threshold {spec.threshold})")


def spike(spec: RuleSpec, w: Window | None, now: float) -> Verdict:
    """The current window against the baseline before it, scaled to the window's length."""
    cur = count(w, now - spec.window_s, now)
    ref_n = count(w, now - spec.window_s - spec.baseline_s, now - spec.window_s)
    ref = ref_n * spec.window_s / spec.baseline_s
    if w is None or now - w.started < spec.window_s + spec.baseline_s:
        return Verdict(False, cur, ref, "no full baseline yet")
    up = cur >= spec.min_current and ref_n >= spec.min_baseline and cur >= spec.spike_height * max(ref, 1e-9)
    down = ref_n >= spec.min_baseline and cur * spec.spike_height <= ref and ref >= spec.min_current
    fire = (spec.spike_type in ("up", "both") and up) or (spec.spike_type in ("down", "both") and down)
    return Verdict(fire, cur, round(ref, 2),
                   f"{cur} items within {_dur(spec.window_s)} against a baseline of {ref:.1f}")


def flatline(spec: RuleSpec, w: Window | None, started: float, now: float) -> Verdict:
    """Too few items within the window, once the rule (or group) has been watched that long."""
    n = count(w, now - spec.window_s, now)
    watched = now - (w.started if w is not None else started)
    return Verdict(watched >= spec.window_s and n < spec.threshold, n,
                   reason=f"{n} items within {_dur(spec.window_s)} (at least {spec.threshold} expected)")


def names(title: str) -> list[str]:
    """Capitalised words and acronyms of a title, but its first word: places, people, systems."""
    found = [m.group() for m in _NAME.finditer(title)]
    first = title.split(maxsplit=1)[0] if title.strip() else ""
    return sorted({n for n in found if n != first.strip(":,.")})


def new_values(spec: RuleSpec, values: Iterable[str], last_seen: dict[str, float | None], started: float,
               now: float) -> list[str]:
    """The values not seen within the rule's window (none during its warm-up)."""
    if now - started < spec.warmup_s:
        return []
    return sorted(v for v in values if (t := last_seen.get(v)) is None or now - t > spec.window_s)


def aggregate_alert_id(rule: str, group: str, at: float, realert_s: float) -> str:
    """Stable for one firing: the same rule and group within one realert period."""
    period = int(at // max(realert_s, 1.0))
    return hashlib.blake2b(f"{rule}|{group}|{period}".encode(), digest_size=12).hexdigest()


def _dur(seconds: float) -> str:
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= n and seconds % n == 0:
            return f"{int(seconds // n)}{unit}"
    return f"{seconds:g}s"
