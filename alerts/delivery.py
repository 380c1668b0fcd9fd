"""Delivering alerts to receivers: pure decisions (classify, backoff, sign) and the HTTP senders.

Errors: a send never raises; it returns an `Outcome` saying whether it worked, whether trying
again can help, and how long the receiver asked us to wait (429/503 Retry-After).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
import orjson

from alerts.model import ReceiverSpec
from alerts.render import console_text, slack_payload, webhook_payload
from streams.core.retry_after import parse_retry_after
from streams.core.secrets import Secret
from streams.schema import Alert

SIGNATURE_HEADER = "X-Warwire-Signature"
TIMESTAMP_HEADER = "X-Warwire-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_ATTEMPTS = 12  # with the backoff below: about 10 to 20 minutes of trying, enough for most outages
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 300.0
SEND_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Receiver:
    """A receiver spec with its URL and secret read from the environment."""

    name: str
    type: str
    url: Secret | None = None      # slack-app: the Web API base URL
    secret: Secret | None = None   # slack-app: the bot token
    channel: str = ""              # slack-app

    @property
    def configured(self) -> bool:
        if self.type == "slack-app":
            return self.secret is not None
        return self.type == "console" or self.url is not None


def resolve_receivers(specs: Mapping[str, ReceiverSpec], env: Mapping[str, str] | None = None) -> dict[str, Receiver]:
    env = os.environ if env is None else env
    out: dict[str, Receiver] = {}
    for name, spec in specs.items():
        if spec.type == "slack-app":
            token = env.get(spec.token_env or "") or None
            out[name] = Receiver(name, spec.type, Secret(spec.api_url), Secret(token) if token else None, spec.channel)
            continue
        url = env.get(spec.url_env or "") or None
        secret = env.get(spec.secret_env or "") or None
        out[name] = Receiver(name, spec.type, Secret(url) if url else None, Secret(secret) if secret else None)
    return out


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    retryable: bool
    reason: str
    status: int | None = None
    retry_after_s: float | None = None


def classify(status: int | None, headers: Mapping[str, str], error: str | None, now: float) -> Outcome:
    """What an HTTP attempt means for delivery."""
    if error is not None:
        return Outcome(False, True, f"transport: {error}")
    assert status is not None
    if 200 <= status < 300:
        return Outcome(True, False, "delivered", status)
    if 300 <= status < 400:
        # Never followed: a POST redirected becomes a GET (counted as delivered, delivering
        # nothing) and would carry the signature to another host. The receiver's URL is wrong.
        where = headers.get("Location") or "?"
        return Outcome(False, False, f"HTTP {status} redirect to {where[:200]} (not followed: fix the receiver's URL)",
                       status)
    retry_after = parse_retry_after(headers.get("Retry-After"), now)
    if status in (408, 425, 429) or status >= 500:
        return Outcome(False, True, f"HTTP {status}", status, retry_after)
    return Outcome(False, False, f"HTTP {status} (not retryable)", status)


def retry_tier(wait_s: float, tiers: Sequence[int], due_within_s: float) -> int | None:
    """Where a task due in `wait_s` waits: None (its lane, which waits up to `due_within_s`
    itself), else the tier of the longest delay that does not pass its due time (the shortest
    when even that is longer). A task held for a tier's delay and still not due goes on to the
    tier that fits what is left, so a wait of W seconds costs about W / max(tiers) records plus a
    few per shorter tier, never one per second."""
    if wait_s <= due_within_s:
        return None
    fitting = [t for t in tiers if t <= wait_s]
    return max(fitting) if fitting else min(tiers)


def backoff_s(attempt: int, retry_after_s: float | None = None, rng: random.Random | None = None) -> float:
    """Delay before attempt `attempt + 1`: the receiver's Retry-After if given, else capped
    exponential backoff with full jitter."""
    if retry_after_s is not None:
        return retry_after_s
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(attempt - 1, 0))
    return (rng or random).uniform(ceiling / 2, ceiling)


def idempotency_key(alert_id: str, receiver: str) -> str:
    return f"{alert_id}:{receiver}"


T = TypeVar("T")


def first_of_each(tasks: list[tuple[int, T]], key: Callable[[T], str]) -> tuple[list[tuple[int, T]], int]:
    """The tasks of one lane batch with each (alert, receiver) once (the first), and how many
    repeats were dropped: a second copy in the same batch would find the first one's `sending`
    in the ledger and be POSTed again (webhooks) or dead-lettered as ambiguous (Slack)."""
    seen: set[str] = set()
    out = []
    for partition, task in tasks:
        k = key(task)
        if k not in seen:
            seen.add(k)
            out.append((partition, task))
    return out, len(tasks) - len(out)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", hex, prefixed with the scheme version."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def request_for(receiver: Receiver, alert: Alert, now: float) -> tuple[bytes, dict[str, str]]:
    """Body and headers for one alert to one HTTP receiver."""
    payload = slack_payload(alert) if receiver.type == "slack" else webhook_payload(alert)
    body = orjson.dumps(payload)
    headers = {"Content-Type": "application/json",
               IDEMPOTENCY_HEADER: idempotency_key(alert.id, receiver.name)}
    if receiver.type == "webhook":
        ts = int(now)
        headers[TIMESTAMP_HEADER] = str(ts)
        if receiver.secret is not None:
            headers[SIGNATURE_HEADER] = sign(receiver.secret.reveal(), ts, body)
    return body, headers


async def send(session: aiohttp.ClientSession, receiver: Receiver, alert: Alert) -> Outcome:
    """One delivery attempt. Never raises."""
    now = time.time()
    if receiver.type == "console":
        print(console_text(alert) + "\n", file=sys.stdout, flush=True)
        return Outcome(True, False, "printed")
    if receiver.url is None:
        return Outcome(False, False, "receiver has no URL configured")
    body, headers = request_for(receiver, alert, now)
    try:
        async with session.post(receiver.url.reveal(), data=body, headers=headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_S)) as resp:
            await resp.read()
            return classify(resp.status, resp.headers, None, time.time())
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return classify(None, {}, type(exc).__name__, time.time())


# Ledger states of one (alert, receiver) delivery, in the worker's `delivered` table.
SENDING = b"sending"      # durably written just before the POST
DELIVERED = b"delivered"  # the receiver answered 2xx
RETRYING = b"retrying"    # the last attempt failed and another is scheduled
FAILED = b"failed"        # dead-lettered
AMBIGUOUS = b"ambiguous"  # the worker died during a POST to a receiver that cannot dedupe


def on_ledger(state: bytes | None, receiver_type: str, replay: bool = False) -> str:
    """What to do with a delivery task given its ledger state: "attempt", "skip" (already
    delivered, or left alone after an ambiguous POST, which went to the DLQ) or "ambiguous" (a
    POST was under way when a worker died: re-send only to webhooks, whose Idempotency-Key lets
    the receiver drop the copy; for others it is dead-lettered). A failed or ambiguous delivery
    is attempted again when an operator replays its alert (`replay`)."""
    if state == DELIVERED or (state == AMBIGUOUS and not replay):
        return "skip"
    if state == SENDING:
        # a webhook drops the copy by its key; a slack-app reads the channel for the alert id first
        return {"webhook": "attempt", "slack-app": "reconcile"}.get(receiver_type, "ambiguous")
    return "attempt"
