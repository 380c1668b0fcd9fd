"""The Retry-After header of an HTTP answer, read the same way by feed fetching (connectors) and
by alert delivery (alerts): pure, shared by both without either importing the other."""

from __future__ import annotations

import math
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), capped at 1 h."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # delta-seconds is 1*DIGIT (RFC 9110): never nan, inf, -1 or 1e9
        secs = float(value[:12])
    else:
        try:
            secs = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(secs):
        return None
    return min(max(secs, 0.0), 3600.0)
