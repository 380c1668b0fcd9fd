"""WebSub (W3C) subscriber decisions: pure. The HTTP side is connectors/websub.py.

A feed that names a hub (<link rel="hub">) is subscribed to at the hub with a callback URL and a
per-subscription secret. The callback's path carries an unguessable token of its own (never derived
from the public feed URL), so only the hub we sent it to can address it. The hub verifies our intent
with a GET carrying a challenge, which we echo only for the topic of a subscription we asked for
and are still waiting on (pending). It then POSTs new content signed with
`X-Hub-Signature: <algo>=<HMAC(secret, body)>`. Unsigned or wrongly signed content is refused. A
lease is renewed when 80 % of it has passed; a lease the hub gives that is not a number of seconds
between `MIN_LEASE_S` and `MAX_LEASE_S` (nan, inf, 0, -1, a year) is clamped into that range.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

ALGOS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
DEFAULT_LEASE_S = 86400
MIN_LEASE_S = 60.0
MAX_LEASE_S = 30 * 86400.0
RENEW_AT = 0.8


@dataclass
class Subscription:
    feed: str        # the feed as configured (what the poller knows it by)
    topic: str       # the topic URL at the hub (the feed's rel="self", else the feed URL)
    hub: str
    secret: str
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))  # the callback path's secret part
    state: str = "pending"   # pending → active; denied
    lease_s: float = DEFAULT_LEASE_S
    verified_at: float | None = None

    def renew_due(self, now: float) -> bool:
        return self.state == "active" and self.verified_at is not None and now >= self.verified_at + RENEW_AT * self.lease_s


def subscription_form(sub: Subscription, callback: str, mode: str = "subscribe") -> dict[str, str]:
    return {"hub.mode": mode, "hub.topic": sub.topic, "hub.callback": callback, "hub.secret": sub.secret,
            "hub.lease_seconds": str(int(sub.lease_s))}


def verify_intent(query: Mapping[str, str], sub: Subscription | None, now: float) -> tuple[int, str]:
    """The answer to the hub's verification GET: (status, body). Echo the challenge only for the
    topic and mode we asked for; record a denial."""
    mode, topic = query.get("hub.mode"), query.get("hub.topic")
    if sub is None or topic != sub.topic:
        return 404, "unknown subscription"
    if mode == "denied":
        sub.state = "denied"
        return 200, ""
    challenge = query.get("hub.challenge")
    if mode != "subscribe" or not challenge:
        return 404, "unexpected mode"
    if sub.state != "pending":
        return 404, "no subscription request is waiting for verification"
    sub.lease_s = lease(query.get("hub.lease_seconds"), sub.lease_s)
    sub.state, sub.verified_at = "active", now
    return 200, challenge


def lease(value: str | None, default: float) -> float:
    """The hub's lease in seconds, within [MIN_LEASE_S, MAX_LEASE_S]; `default` when absent or not
    a finite number."""
    try:
        secs = float(value) if value else default
    except ValueError:
        return default
    if not math.isfinite(secs):
        return default
    return min(max(secs, MIN_LEASE_S), MAX_LEASE_S)


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """True when `X-Hub-Signature` is a valid HMAC of the body with our secret."""
    if not header or "=" not in header:
        return False
    algo, _, digest = header.partition("=")
    fn = ALGOS.get(algo.strip().lower())
    if fn is None:
        return False
    return hmac.compare_digest(hmac.new(secret.encode(), body, fn).hexdigest(), digest.strip().lower())
