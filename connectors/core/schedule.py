"""When to poll a feed next: pure arithmetic over the feed's bounds, its recent history and `now`.

A feed that publishes often is polled more often (never below its minimum), a quiet one less
(never above its maximum); errors back off exponentially up to a cap, and a feed is never given
up. A server's Retry-After and Cache-Control max-age are lower bounds. Every delay gets ±10 %
jitter so that feeds do not fall into step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

ERROR_BACKOFF_CAP_S = 3600.0
UNHEALTHY_AFTER = 3
JITTER = 0.1


@dataclass(frozen=True, slots=True)
class PollState:
    interval_s: float
    consecutive_errors: int = 0
    last_success: float | None = None
    last_new_item: float | None = None

    @property
    def healthy(self) -> bool:
        return self.consecutive_errors < UNHEALTHY_AFTER


def initial(min_s: float, max_s: float) -> PollState:
    return PollState(interval_s=min_s)


def after_success(state: PollState, new_items: int, publish_gap_s: float | None, min_s: float,
                  max_s: float, now: float, server_min_s: float | None = None) -> PollState:
    """`publish_gap_s`: the median gap between the feed's recent entries, when known."""
    if publish_gap_s is not None and publish_gap_s > 0:
        target = publish_gap_s / 2
    elif new_items:
        target = state.interval_s / 2
    else:
        target = state.interval_s * 1.5
    if server_min_s is not None:
        target = max(target, server_min_s)
    interval = min(max(target, min_s), max_s)
    return replace(state, interval_s=interval, consecutive_errors=0, last_success=now,
                   last_new_item=now if new_items else state.last_new_item)


def after_error(state: PollState, min_s: float, max_s: float,
                retry_after_s: float | None = None) -> tuple[PollState, float]:
    """The state after a failed poll, and how long to wait before the next one."""
    errors = state.consecutive_errors + 1
    backoff = min(ERROR_BACKOFF_CAP_S, max(min_s, state.interval_s) * 2 ** (errors - 1))
    if retry_after_s is not None:
        backoff = max(backoff, retry_after_s)
    return replace(state, consecutive_errors=errors), backoff


def next_delay(base_s: float, rng: random.Random | None = None) -> float:
    return base_s * (1 + (rng or random).uniform(-JITTER, JITTER))


def median_gap(timestamps: list[float]) -> float | None:
    """Median gap between distinct publication times (newest first or any order)."""
    ts = sorted(set(timestamps))
    if len(ts) < 3:
        return None
    gaps = sorted(b - a for a, b in zip(ts, ts[1:], strict=False))
    return gaps[len(gaps) // 2]


def feed_partition(url: str, partitions: int) -> int:
    """Which partition of warwire.feeds owns a feed: stable across processes and restarts."""
    import zlib

    return zlib.crc32(url.encode()) % partitions
