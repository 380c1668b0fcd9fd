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
])
def test_benchmark_script_prints_its_figures(module: str, args: list[str], keys: set[str]) -> None:
    res = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert keys <= json.loads(res.stdout.splitlines()[-1]).keys()
