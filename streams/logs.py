"""Logging: structlog configured once per process, with faust's and aiokafka's stdlib logging
routed through the same processors. JSON lines in production, readable console in development."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from streams.core.secrets import redact

_REDACT_KEYS = ("url_env_value", "webhook_url", "secret", "token", "authorization")


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for k, v in list(event.items()):
        event[k] = "<secret>" if any(r in k.lower() for r in _REDACT_KEYS) else redact(v)
    return event


def _component(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """`logger`: the stdlib logger's name, or the name warwire's own logger was made with
    (bound as `component`, because structlog's get_logger reserves the `logger` argument)."""
    record = event.get("_record")
    if record is not None:
        event["logger"] = record.name
    elif "component" in event:
        event["logger"] = event.pop("component")
    return event


class TransientBrokerErrors(logging.Filter):
    """aiokafka logs at ERROR that the group coordinator is not available, which is what a broker
    answers for the first seconds after it starts (or after a leader moves) and which aiokafka
    retries by itself: on every clean start an operator saw an error that was none. Such records
    pass as INFO; a coordinator that stays away still shows as the worker never becoming ready."""

    TRANSIENT = ("GroupCoordinatorNotAvailable", "NotCoordinatorForGroup", "CoordinatorLoadInProgress")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and any(t in record.getMessage() for t in self.TRANSIENT):
            record.levelno, record.levelname = logging.INFO, "INFO"
            note = "transient: the broker is electing the group's coordinator; retried"
            record.msg, record.args = f"{record.getMessage()} ({note})", ()
        return True


def configure(fmt: str = "console", level: int = logging.INFO) -> None:
    """Configure structlog and the stdlib root logger. Call once, at the entry point.

    warwire's own events are rendered by structlog directly (a JSON line costs a few µs, which
    matters at one log line per alert); faust's and aiokafka's stdlib records go through the same
    processors by way of structlog's ProcessorFormatter."""
    shared: list[Any] = [
        _component,
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    if fmt == "json":
        shared.append(structlog.processors.format_exc_info)
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=[*shared, renderer],
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    handler.addFilter(TransientBrokerErrors())


def get(name: str) -> Any:
    """A structlog logger whose events carry `logger=name` (bound lazily, so a module-level
    logger picks up the configuration made later at the entry point)."""
    return structlog.get_logger(component=name)
