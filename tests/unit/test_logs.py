"""Logging (issue 16, hole 12): a broker's transient coordinator errors are not errors."""

from __future__ import annotations

import logging

from streams.logs import TransientBrokerErrors


def _record(level: int, msg: str) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.consumer.group_coordinator", level, __file__, 1, msg, (), None)


def test_group_coordinator_not_available_on_a_clean_start_is_info_not_error() -> None:
    rec = _record(logging.ERROR, "Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailableError")
    assert TransientBrokerErrors().filter(rec) is True
    assert rec.levelno == logging.INFO and rec.levelname == "INFO" and "transient" in rec.getMessage()


def test_other_errors_stay_errors() -> None:
    rec = _record(logging.ERROR, "Unable to update metadata from [0]")
    assert TransientBrokerErrors().filter(rec) is True
    assert rec.levelno == logging.ERROR and rec.getMessage() == "Unable to update metadata from [0]"
