"""Silences: which alerts they mute, and when."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.silences import expired, new_silence, silenced_by
from streams.schema import Alert

ALERT = Alert(id="a", rule="tracked-topics", severity="warning", key="s", fired_at=datetime(2023, 9, 28, tzinfo=UTC),
              receivers=["console"], title="t", source="WELT", topics=["air-defence", "nato-accession"])


@pytest.mark.parametrize(("matchers", "at", "muted"), [
    ({"rule": "tracked-topics"}, 100, True),
    ({"rule": "wide-coverage"}, 100, False),
    ({"topic": "nato-accession"}, 100, True),
    ({"topic": "energy-infrastructure"}, 100, False),
    ({"source": "WELT"}, 100, True),
    ({"source": "WELT", "topic": "energy-infrastructure"}, 100, False),  # every matcher must match
    ({"rule": "tracked-topics"}, 99, False),   # not started yet
    ({"rule": "tracked-topics"}, 160, False),  # over
])
def test_silence_matches(matchers: dict[str, str], at: float, muted: bool) -> None:
    s = new_silence(100, 60, **matchers)
    assert (silenced_by([s], ALERT, at) is not None) is muted


def test_expiring_ends_a_silence_now_and_a_silence_needs_a_matcher() -> None:
    s = new_silence(100, 3600, topic="air-defence")
    assert silenced_by([expired(s, 200)], ALERT, 201) is None
    with pytest.raises(ValueError, match="at least one of rule, topic, source or story"):
        new_silence(100, 60)
