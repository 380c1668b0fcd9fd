"""The benchmark scripts run and print their figures (they assert nothing about speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("module", "args", "keys"), [
    ("benchmarks.parse", ["--items", "20", "--rounds", "1"], {"ratio_warwire_to_feedparser", "feedparser_items_per_s"}),
    ("benchmarks.tagging", ["--terms", "300", "--rounds", "1"], {"ratio_big_to_shipped", "big_patterns"}),
    ("benchmarks.scheduler", ["--feeds", "20", "--seconds", "1", "--warmup", "2"], {"cpu_ms_per_poll", "polls"}),
    ("benchmarks.quality", ["--split", "test"], {"test"}),
    ("benchmarks.state", ["--items", "500"], {"state"}),
])
def test_benchmark_script_prints_its_figures(module: str, args: list[str], keys: set[str]) -> None:
    res = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert keys <= json.loads(res.stdout.splitlines()[-1]).keys()


def test_quality_targets_hold_on_the_labelled_set() -> None:
    """The issue's targets (precision >= 0.95, recall >= 0.90 per topic and for duplicates) on the
    whole labelled set; a taxonomy or dedupe change that breaks them fails here."""
    res = subprocess.run([sys.executable, "-m", "benchmarks.quality"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    figures = json.loads(res.stdout.splitlines()[-1])["all"]
    for name, pr in figures.items():
        assert pr["precision"] >= 0.95 and pr["recall"] >= 0.90, (name, pr)
