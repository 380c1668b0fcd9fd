"""Broker-side set-up: wait until a broker serves metadata, and create the pipeline's topics.

Source topics are created here with a fixed partition count (faust creates only its changelogs),
so table changelogs always match their source topic (shared FAUST-NOTES.md: PartitionsMismatch).
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from streams.config import Settings
from streams.schema import (
    APP_ID,
    RETRY_TIERS_S,
    TABLES,
    TOPIC_ALERTS,
    TOPIC_ANALYZED,
    TOPIC_DELIVERIES,
    TOPIC_DLQ,
    TOPIC_FEED_HEALTH,
    TOPIC_FEED_STATE,
    TOPIC_FEEDBACK,
    TOPIC_FEEDS,
    TOPIC_RAW,
    TOPIC_RULE_EVENTS,
    TOPIC_SILENCES,
    TOPIC_STORIES,
    changelog_topic,
    retry_topic,
)

# Rules over many items remember up to 30 days (new_term's default window), and a little more.
AGGREGATE_TTL_S = 35 * 86400.0
# The delivery ledger: long enough for any retry or replay of an alert.
LEDGER_TTL_S = 8 * 86400.0


class BrokerUnavailable(RuntimeError):
    """No broker answered with metadata in time."""


def changelog_topics(settings: Settings) -> dict[str, int]:
    app_id = settings.topic(APP_ID)
    return {changelog_topic(app_id, t): settings.partitions for t in TABLES}


COMPACTED = (TOPIC_SILENCES, TOPIC_FEED_STATE, TOPIC_STORIES)


def pipeline_topics(settings: Settings) -> dict[str, int]:
    p = settings.partitions
    counts = {TOPIC_RAW: p, TOPIC_ANALYZED: p, TOPIC_ALERTS: p, TOPIC_DELIVERIES: p, TOPIC_DLQ: 1,
              TOPIC_FEED_HEALTH: 1, TOPIC_SILENCES: 1, TOPIC_FEED_STATE: 1, TOPIC_STORIES: p, TOPIC_FEEDS: p,
              TOPIC_RULE_EVENTS: p, TOPIC_FEEDBACK: 1, **{retry_topic(t): p for t in RETRY_TIERS_S}}
    return {settings.topic(t): n for t, n in counts.items()}


def topic_config(settings: Settings, topic: str) -> dict[str, str]:
    """Cleanup policy of a topic warwire creates. Stage 2's changelog records are per item (never
    overwritten), so they expire by time, with the state's TTL; the other changelogs and state
    topics are compacted."""
    if topic == changelog_topic(settings.topic(APP_ID), TABLES[0]):
        return {"cleanup.policy": "delete", "retention.ms": str(int(settings.state_ttl_s * 1000))}
    if topic == changelog_topic(settings.topic(APP_ID), TABLES[1]):
        return {"cleanup.policy": "compact,delete", "retention.ms": str(int(LEDGER_TTL_S * 1000))}
    if topic == changelog_topic(settings.topic(APP_ID), TABLES[2]):
        return {"cleanup.policy": "delete", "retention.ms": str(int(AGGREGATE_TTL_S * 1000))}
    if topic in changelog_topics(settings) or topic in {settings.topic(c) for c in COMPACTED}:
        return {"cleanup.policy": "compact"}
    return {}


async def wait_for_broker(bootstrap: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    quiet = _Quiet()
    aiokafka_log = logging.getLogger("aiokafka")
    aiokafka_log.addFilter(quiet)
    try:
        await _wait(bootstrap, deadline, timeout_s)
    finally:
        aiokafka_log.removeFilter(quiet)


class _Quiet(logging.Filter):
    """Connection refusals are expected while a broker starts; the caller reports the outcome."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


async def _wait(bootstrap: str, deadline: float, timeout_s: float) -> None:
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.describe_cluster()
            return
        except (KafkaError, OSError) as exc:
            last = exc
        finally:
            await admin.close()
        await asyncio.sleep(0.5)
    raise BrokerUnavailable(f"no Kafka broker answered at {bootstrap} within {timeout_s:.0f}s: {last}")


async def wait_for_partitions(admin: AIOKafkaAdminClient, names: list[str],
                              timeout_s: float = 30.0) -> tuple[dict[str, int], list[str]]:
    """Metadata of topics just created can lag the create call: wait until every topic shows
    partitions, each with its leader (the first sends would meet NotLeaderForPartition). Each
    topic's partition count, and the topics still pending at the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        actual = {d["topic"]: len(d["partitions"]) for d in described}
        leaderless = {d["topic"] for d in described if any(p["leader"] < 0 for p in d["partitions"])}
        pending = [t for t in names if not actual.get(t) or t in leaderless]
        if not pending or time.monotonic() > deadline:
            return actual, pending
        await asyncio.sleep(0.2)


async def ensure_topics(settings: Settings) -> dict[str, int]:
    """Create missing pipeline and changelog topics; check existing ones have the expected
    partition count, and wait until the broker shows every one of them."""
    changelogs = changelog_topics(settings)
    wanted = {**pipeline_topics(settings), **changelogs}
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(t, n, settings.replication_factor, topic_configs=topic_config(settings, t))
               for t, n in wanted.items() if t not in existing]
        if new:
            try:
                await admin.create_topics(new, timeout_ms=10000)
            except TopicAlreadyExistsError:
                pass
        actual, pending = await wait_for_partitions(admin, list(wanted))
        if pending:
            raise BrokerUnavailable(f"topics {', '.join(pending)} were created but after 30s show no partitions, "
                                    "or partitions without a leader")
        wrong = {t: (actual[t], n) for t, n in wanted.items() if actual[t] != n}
        if wrong:
            lines = ", ".join(f"{t} has {a} partitions, expected {n}" for t, (a, n) in wrong.items())
            raise RuntimeError(f"topic partition counts do not match the configuration: {lines}; "
                               "set partitions in config/warwire.yaml to match, or recreate the topics")
        return {t: actual[t] for t in pipeline_topics(settings)}
    except KafkaConnectionError as exc:
        raise BrokerUnavailable(str(exc)) from exc
    finally:
        await admin.close()


class BrokerProbe:
    """Asks the broker for its cluster metadata every few seconds; readiness reads the result."""

    def __init__(self, bootstrap: str, stale_after_s: float = 15.0) -> None:
        self.bootstrap, self.stale_after_s = bootstrap, stale_after_s
        self.last_ok: float | None = None
        self.last_error = "not checked yet"

    async def run(self, interval_s: float = 5.0) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=4000)
        started = False
        try:
            while True:
                try:
                    if not started:
                        await admin.start()
                        started = True
                    await admin.describe_cluster()
                    self.last_ok = time.monotonic()
                except (KafkaError, OSError) as exc:
                    self.last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(interval_s)
        finally:
            if started:
                await admin.close()

    def reason(self) -> str | None:
        if self.last_ok is None or time.monotonic() - self.last_ok > self.stale_after_s:
            return f"broker {self.bootstrap} unreachable ({self.last_error})"
        return None
