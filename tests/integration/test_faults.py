"""The fault suite's scenarios, small, on the session's real broker (the full runs are
`python -m benchmarks.faults`, figures in docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import faults
from benchmarks import harness as h

pytestmark = pytest.mark.kafka


def test_killed_and_restarted_worker_loses_no_expected_alert(kafka, tmp_path: Path) -> None:
    out = faults.kill_scenario(h.Broker(kafka.bootstrap, None), tmp_path, n_items=1200, kills=2)
    assert out.expected > 150 and out.lost == 0, out.row()
    assert out.dead_letters == 0, out.row()


def test_poison_records_are_dead_lettered_with_reasons_and_good_items_still_alert(kafka, tmp_path: Path) -> None:
    out = faults.poison_scenario(h.Broker(kafka.bootstrap, None), tmp_path, n_items=120)
    assert out.lost == 0 and out.dead_letters == len(faults.POISON), out.row()
    for reason in ("empty value (tombstone)", "exceeds the 1000000 byte limit", "Object missing required field `id`"):
        assert reason in out.notes[0], out.notes
