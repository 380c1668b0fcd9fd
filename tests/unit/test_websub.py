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


@pytest.mark.parametrize(("given", "lease"), [("nan", 86400.0), ("inf", 86400.0), ("-inf", 86400.0), ("0", 60.0),
                                              ("-1", 60.0), ("31536000", 30 * 86400.0), ("x", 86400.0), ("600", 600.0)])
def test_leases_that_are_no_number_of_seconds_are_bounded(given: str, lease: float) -> None:
    """Issue 17: inf and nan leases were accepted (nan never renews, inf never expires)."""
    s = sub()
    assert verify_intent({"hub.mode": "subscribe", "hub.topic": "http://x/self", "hub.challenge": "c",
                          "hub.lease_seconds": given}, s, 1.0) == (200, "c")
    assert s.lease_s == lease


def test_intent_is_confirmed_only_while_our_request_is_pending_and_tokens_are_unguessable() -> None:
    """Issue 17: anyone could answer the verification at any time, at a path derived from the feed URL."""
    s = sub()
    query = {"hub.mode": "subscribe", "hub.topic": "http://x/self", "hub.challenge": "c"}
    assert verify_intent(query, s, 1.0) == (200, "c")
    assert verify_intent(query, s, 2.0)[0] == 404  # already verified: a second answer is refused
    other = sub()
    assert other.token != s.token and len(s.token) >= 32 and hashlib.sha1(b"http://x/feed").hexdigest()[:16] != s.token


async def test_after_a_hand_over_the_old_owner_forgets_the_subscription_stops_renewing_and_drops_its_gauges() -> None:
    from prometheus_client import CollectorRegistry

    from connectors.core.schedule import feed_partition
    from connectors.feeds import FeedSpec
    from connectors.fetch import Fetcher
    from connectors.ownership import FeedOwnership
    from connectors.poller import ConnectorMetrics, Poller
    from connectors.websub import WebSub

    feed = FeedSpec(url="http://x/feed", source="x")
    poller = Poller([feed], Fetcher(), None, ConnectorMetrics(CollectorRegistry()))  # type: ignore[arg-type]
    websub = WebSub(poller, "http://127.0.0.1:1", 1)
    poller.websub = websub
    s = sub()
    s.state, s.verified_at = "active", 0.0
    websub.subs[s.token], websub.feeds[s.token], websub.by_feed[feed.url] = s, feed, s.token
    assert websub.active(feed.url) and s.renew_due(10 * 86400.0)
    poller.metrics.last_success.labels("x").set(1.0)
    poller.metrics.healthy.labels("x").set(1)
    owner = FeedOwnership(poller, "127.0.0.1:1", "t", "g", 4, lambda: None)  # type: ignore[arg-type,return-value]
    await owner.release({feed_partition(feed.url, 4)})
    assert not websub.active(feed.url) and websub.subs == {}  # renew_forever has nothing left to renew
    # Issue 16: its gauges go too, or WarwireFeedStale fires for a feed another connector polls.
    registry = poller.metrics.registry
    assert registry.get_sample_value("warwire_connector_last_success_timestamp_seconds", {"feed": "x"}) is None
    assert registry.get_sample_value("warwire_connector_feed_healthy", {"feed": "x"}) is None
