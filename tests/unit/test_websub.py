"""WebSub subscriber decisions."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from connectors.core.websub import Subscription, signature_ok, verify_intent


def sub() -> Subscription:
    return Subscription(feed="http://x/feed", topic="http://x/self", hub="http://hub/", secret="s3cret")


@pytest.mark.parametrize(("algo", "fn"), [("sha1", hashlib.sha1), ("sha256", hashlib.sha256), ("sha512", hashlib.sha512)])
def test_signature_accepts_only_our_hmac(algo: str, fn) -> None:  # type: ignore[no-untyped-def]
    body = b"<feed/>"
    good = f"{algo}=" + hmac.new(b"s3cret", body, fn).hexdigest()
    assert signature_ok("s3cret", body, good)
    assert not signature_ok("s3cret", body + b" ", good)
    assert not signature_ok("other", body, good)
    assert not signature_ok("s3cret", body, None) and not signature_ok("s3cret", body, "md5=abc")


def test_intent_is_confirmed_only_for_our_topic_and_mode() -> None:
    s = sub()
    assert verify_intent({"hub.mode": "subscribe", "hub.topic": "http://other/", "hub.challenge": "c"}, s, 1.0)[0] == 404
    assert verify_intent({"hub.mode": "subscribe", "hub.topic": "http://x/self", "hub.challenge": "c"}, None, 1.0)[0] == 404
    assert verify_intent({"hub.mode": "subscribe", "hub.topic": "http://x/self", "hub.challenge": "abc",
                          "hub.lease_seconds": "600"}, s, 1.0) == (200, "abc")
    assert s.state == "active" and s.lease_s == 600
    assert not s.renew_due(1.0 + 0.79 * 600) and s.renew_due(1.0 + 0.8 * 600)
    assert verify_intent({"hub.mode": "denied", "hub.topic": "http://x/self"}, s, 2.0) == (200, "")
    assert s.state == "denied"
