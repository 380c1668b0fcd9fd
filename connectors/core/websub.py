"""WebSub (W3C) subscriber decisions: pure. The HTTP side is connectors/websub.py.

A feed that names a hub (<link rel="hub">) is subscribed to at the hub with a callback URL and a
per-subscription secret. The hub verifies our intent with a GET carrying a challenge, which we echo
only for a subscription we asked for. It then POSTs new content signed with
`X-Hub-Signature: <algo>=<HMAC(secret, body)>`. Unsigned or wrongly signed content is refused. A
lease is renewed when 80 % of it has passed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

ALGOS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
DEFAULT_LEASE_S = 86400
RENEW_AT = 0.8


@dataclass
class Subscription:
    feed: str        # the feed as configured (what the poller knows it by)
    topic: str       # the topic URL at the hub (the feed's rel="self", else the feed URL)
    hub: str
    secret: str
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
    try:
        sub.lease_s = float(query.get("hub.lease_seconds") or sub.lease_s)
    except ValueError:
        pass
    sub.state, sub.verified_at = "active", now
    return 200, challenge


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """True when `X-Hub-Signature` is a valid HMAC of the body with our secret."""
    if not header or "=" not in header:
        return False
    algo, _, digest = header.partition("=")
    fn = ALGOS.get(algo.strip().lower())
    if fn is None:
        return False
    return hmac.compare_digest(hmac.new(secret.encode(), body, fn).hexdigest(), digest.strip().lower())
