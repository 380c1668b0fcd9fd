"""Delivery decisions, payloads and secrets."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
from datetime import UTC, datetime

import pytest

from alerts import delivery
from alerts.render import console_text, slack_payload
from streams import logs
from streams.core.secrets import Secret
from streams.schema import Alert, Match

ALERT = Alert(id="a1", rule="tracked-topics", severity="warning", key="s-1",
              fired_at=datetime(2023, 9, 28, tzinfo=UTC), receivers=["webhook"], title="Patriot <battery>",
              url="https://x.example/1", source="WELT", outlets=2, sources=["welt", "ap"], topics=["air-defence"],
              matches=[Match(topic="air-defence", term="Patriot", field="summary", start=0, end=7)],
              summary="Patriot battery & more")


@pytest.mark.parametrize(("status", "headers", "error", "ok", "retryable", "after"), [
    (200, {}, None, True, False, None),
    (204, {}, None, True, False, None),
    (429, {"Retry-After": "7"}, None, False, True, 7.0),
    (503, {}, None, False, True, None),
    (500, {"Retry-After": "Thu, 01 Jan 1970 00:00:30 GMT"}, None, False, True, 20.0),
    (400, {}, None, False, False, None),
    (404, {}, None, False, False, None),
    (None, {}, "ClientConnectorError", False, True, None),
    # Retry-After that is no delay (issue 17: nan became a retry task that could not be re-read)
    (429, {"Retry-After": "nan"}, None, False, True, None),
    (429, {"Retry-After": "inf"}, None, False, True, None),
    (429, {"Retry-After": "-5"}, None, False, True, None),
    (429, {"Retry-After": "1e9"}, None, False, True, None),
])
def test_classify(status, headers, error, ok, retryable, after) -> None:  # type: ignore[no-untyped-def]
    out = delivery.classify(status, headers, error, now=10.0)
    assert (out.ok, out.retryable, out.retry_after_s) == (ok, retryable, after)


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    rng = random.Random(1)
    delays = [delivery.backoff_s(a, rng=rng) for a in range(1, 12)]
    assert all(d1 <= delivery.BACKOFF_CAP_S for d1 in delays)
    assert delays[0] <= 1.0 and delays[5] >= 16.0 and delays[-1] >= delivery.BACKOFF_CAP_S / 2
    assert delivery.backoff_s(3, retry_after_s=42.0) == 42.0


def test_webhook_request_is_signed_and_idempotent() -> None:
    rec = delivery.Receiver("webhook", "webhook", Secret("http://127.0.0.1:1/h"), Secret("k"))
    body, headers = delivery.request_for(rec, ALERT, now=1000.0)
    assert headers["Idempotency-Key"] == "a1:webhook"
    mac = hmac.new(b"k", b"1000." + body, hashlib.sha256).hexdigest()
    assert headers["X-Warwire-Signature"] == f"v1={mac}"
    assert json.loads(body)["alert"]["id"] == "a1"


def test_slack_message_links_headline_escapes_and_highlights() -> None:
    msg = slack_payload(ALERT)
    assert msg["blocks"][0]["text"]["text"] == ":warning: *<https://x.example/1|Patriot &lt;battery&gt;>*"
    assert msg["blocks"][2]["text"]["text"] == "*Patriot* battery &amp; more"
    assert "2 outlet(s)" in json.dumps(msg)


def test_console_text_is_readable() -> None:
    text = console_text(ALERT)
    assert text.splitlines()[0] == "ALERT [WARNING] tracked-topics: Patriot <battery>"
    assert "2 outlets: welt, ap" in text


@pytest.fixture
def restore_logging():  # type: ignore[no-untyped-def]
    """Set up before capsys, so torn down after it: logging goes back to the real stderr, not to
    capsys's closed stream (later tests that log would fail on it)."""
    yield
    logs.configure()


def test_secrets_never_reach_a_log_line(restore_logging: None, caplog: pytest.LogCaptureFixture,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://hooks.slack.com/services/T000/B000/very-secret-token"
    rec = delivery.resolve_receivers(
        {"s": type("S", (), {"type": "slack", "url_env": "U", "secret_env": None})()}, {"U": url})["s"]
    logs.configure("json")
    log = logs.get("test")
    log.info("receiver", receiver=rec, url=rec.url, webhook_url=url)
    logging.getLogger("x").warning("plain %s", rec.url)
    out = capsys.readouterr()
    assert "very-secret-token" not in out.err + out.out
    assert "<secret>" in out.err
    assert rec.url is not None and rec.url.reveal() == url



@pytest.mark.parametrize(("state", "receiver_type", "action"), [
    (None, "slack", "attempt"), (delivery.RETRYING, "webhook", "attempt"), (delivery.FAILED, "slack", "attempt"),
    (delivery.DELIVERED, "webhook", "skip"), (delivery.AMBIGUOUS, "slack", "skip"),
    (delivery.SENDING, "webhook", "attempt"), (delivery.SENDING, "slack", "ambiguous"),
    (delivery.SENDING, "console", "ambiguous"),
])
def test_ledger_decides_what_a_worker_does_with_a_task_it_reads_again(state, receiver_type, action) -> None:  # type: ignore[no-untyped-def]
    assert delivery.on_ledger(state, receiver_type) == action


@pytest.mark.parametrize(("state", "action"), [
    (delivery.AMBIGUOUS, "attempt"), (delivery.FAILED, "attempt"), (delivery.DELIVERED, "skip"), (None, "attempt"),
])
def test_a_replayed_alert_is_attempted_over_an_ambiguous_or_failed_ledger_never_over_a_delivered_one(
        state, action) -> None:  # type: ignore[no-untyped-def]
    assert delivery.on_ledger(state, "slack", replay=True) == action



HOSTILE = Alert(
    id="h1", rule="tracked-topics", severity="critical", key="s-2", fired_at=datetime(2023, 9, 28, tzinfo=UTC),
    receivers=["newsroom-slack"], title="<!channel> Patriot <@U024BE7LH> <#C024BE7LR> & <https://evil.example|x>",
    url="https://x.example/a|<!here> pwned>", source="<!everyone>", outlets=1, sources=["<!here>"],
    topics=["air-defence"], summary="Patriot <!subteam^S123> *bold* <https://evil.example|click> @channel",
    matches=[Match(topic="air-defence", term="<!here>Patriot", field="summary", start=0, end=7)],
    reason="<!channel> 12 items in 1h")


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JavaScript:alert(document.cookie)", "data:text/html,<script>alert(1)</script>",
    "file:///etc/passwd", "slack://channel?id=C1", "//evil.example/x", "/relative", "http://", "http://[::1",
])
def test_slack_headline_links_only_absolute_http_urls(url: str) -> None:
    """A link whose scheme is not http(s), or that has no host, becomes the title alone: no link."""
    from msgspec.structs import replace

    from tests.slack_blocks import control_sequences, validate_message
    msg = slack_payload(replace(HOSTILE, url=url))
    validate_message(msg)
    assert control_sequences(msg) == []
    assert not any("<" in t and "|" in t.split("<", 1)[1] for t in [msg["blocks"][0]["text"]["text"]])


def test_slack_payload_leaves_no_mention_link_or_markup_from_feed_text() -> None:
    """Title, summary, source, terms, reason and the fallback text are escaped; the item URL keeps
    its characters percent-encoded, so `|<!here>…` cannot end the link and put its own label."""
    from tests.slack_blocks import control_sequences, validate_message
    msg = slack_payload(HOSTILE)
    validate_message(msg)
    assert control_sequences(msg) == []
    head = msg["blocks"][0]["text"]["text"]
    assert head.startswith(":rotating_light: *<https://x.example/a%7C%3C!here%3E%20pwned%3E|&lt;!channel&gt; Patriot")
    assert msg["text"].startswith("[critical] &lt;!channel&gt; Patriot &lt;@U024BE7LH&gt;")
    assert all(obj.get("verbatim") is True for b in msg["blocks"]
               for obj in ([b["text"]] if "text" in b else b.get("elements", [])))


def test_slack_link_url_keeps_ampersands_as_entities() -> None:
    from alerts.render import safe_link_url
    assert safe_link_url("https://x.example/a?b=1&c=2#f") == "https://x.example/a?b=1&amp;c=2#f"
    assert safe_link_url("https://x.example/ä b\"") == "https://x.example/%C3%A4%20b%22"


def test_slack_digest_is_cut_at_a_line_and_says_how_many_more() -> None:
    """A digest of 400 entries fits one section (≤ 3,000 characters), ends on a whole line and
    counts every entry it left out."""
    from msgspec.structs import replace

    from streams.schema import DigestEntry
    from tests.slack_blocks import validate_message
    entries = [DigestEntry(id=f"d{i}", title=f"Entry {i} & <more>", url=f"https://x.example/{i}", source="AP")
               for i in range(400)]
    msg = slack_payload(replace(ALERT, digest=entries))
    validate_message(msg)
    body = next(b["text"]["text"] for b in msg["blocks"] if b["type"] == "section" and "Entry 0" in b["text"]["text"])
    lines = body.splitlines()
    assert len(body) <= 3000
    assert lines[-1] == f"… and {400 - (len(lines) - 1)} more"
    assert all(line.startswith("• <https://x.example/") and line.endswith("· AP") for line in lines[:-1])


async def test_a_webhook_post_that_is_redirected_is_not_followed_and_not_counted_as_delivered(httpserver) -> None:  # type: ignore[no-untyped-def]
    """Issue 16: a 302 turned the POST into a GET, counted as delivered, with the signature sent on."""
    import aiohttp

    hits: list[str] = []
    httpserver.expect_request("/hook", method="POST").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/elsewhere")})
    httpserver.expect_request("/elsewhere").respond_with_handler(lambda r: (hits.append(r.method), "ok")[1])
    rec = delivery.Receiver("webhook", "webhook", Secret(httpserver.url_for("/hook")), Secret("k"))
    async with aiohttp.ClientSession() as session:
        out = await delivery.send(session, rec, ALERT)
    assert not out.ok and not out.retryable and "redirect" in out.reason and out.status == 302
    assert hits == []


def test_a_secret_does_not_leak_through_concatenation_or_json() -> None:
    """Issue 16: Secret subclassed str, so "x" + secret and json.dumps(secret) gave the value away."""
    import json

    s = Secret("hunter2")
    assert f"{s}" == str(s) == repr(s) == "<secret>" and s.reveal() == "hunter2"
    with pytest.raises(TypeError):
        _ = "url: " + s  # type: ignore[operator]
    with pytest.raises(TypeError):
        json.dumps({"url": s})


def test_the_same_alert_and_receiver_twice_in_one_lane_batch_is_attempted_once() -> None:
    """Issue 16: the second copy found the first one's `sending` and was POSTed again."""
    from streams.schema import DeliveryTask

    a = DeliveryTask(alert=ALERT, receiver="webhook", attempt=1, not_before=0.0)
    b = DeliveryTask(alert=ALERT, receiver="slack", attempt=1, not_before=0.0)
    tasks, repeats = delivery.first_of_each([(0, a), (1, b), (0, a), (2, a)],
                                            lambda t: delivery.idempotency_key(t.alert.id, t.receiver))
    assert tasks == [(0, a), (1, b)] and repeats == 2
