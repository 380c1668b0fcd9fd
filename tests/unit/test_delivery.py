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


def test_secrets_never_reach_a_log_line(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
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

