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


def test_tagging_targets_hold_on_the_labelled_set() -> None:
    """Tagging's targets (precision >= 0.95, recall >= 0.90 per topic) on the whole legacy tagging
    set; a taxonomy change that breaks them fails here. (Its duplicate pairs are a legacy check of
    stories, printed by benchmarks.quality; the story corpus below is what stories are judged on.)"""
    res = subprocess.run([sys.executable, "-m", "benchmarks.quality"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    figures = json.loads(res.stdout.splitlines()[-1])["all"]
    for name, pr in figures.items():
        if not name.startswith("duplicates"):
            assert pr["precision"] >= 0.95 and pr["recall"] >= 0.90, (name, pr)


def test_story_quality_on_the_frozen_test_split() -> None:
    """The story corpus's test split, never tuned on (issue 13): duplicate precision >= 0.95 and
    recall >= 0.90, heavy-rewrite recall >= 0.85 and BCubed F1 >= 0.92 are the targets, and
    they hold (docs/quality.md)."""
    res = subprocess.run([sys.executable, "-m", "benchmarks.stories", "--split", "test", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    test = json.loads(res.stdout.splitlines()[-1])["test"]
    assert test["stream"]["precision"] >= 0.95 and test["bcubed"]["f1"] >= 0.92, test
    assert test["stream"]["recall"] >= RECALL_FLOOR and test["stream"]["heavy_recall"] >= HEAVY_FLOOR, test
    assert test["asymmetric_pairs"] == 0


RECALL_FLOOR, HEAVY_FLOOR = 0.90, 0.85  # the targets (issue 13); measured 0.936 / 0.931


def test_tagging_on_the_fresh_test_split_each_topic_on_its_own() -> None:
    """The fresh tagging set's test split (all five batches), never tuned on (issue 14): precision
    >= 0.95 and recall >= 0.90 for every topic, each on its own. Air-defence precision is at the
    target exactly (171 of 180 after round thirteen, docs/quality.md): one more false positive
    fails this."""
    res = subprocess.run([sys.executable, "-m", "benchmarks.tagging_eval", "--split", "test", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    topics = json.loads(res.stdout.splitlines()[-1])["topics"]
    for name, pr in topics.items():
        assert pr["precision"] >= 0.95, (name, pr)
        assert pr["recall"] >= 0.90, (name, pr)


def test_the_pipeline_benchmarks_never_firing_rule_is_a_valid_rule_file(tmp_path: Path) -> None:
    """Its `noalerts` row runs workers on this file: a file the loader refuses made every worker
    exit at start (found when an unknown language became an error)."""
    from alerts.loader import load_rules
    from benchmarks.pipeline import NEVER
    (tmp_path / "never.yaml").write_text(NEVER)
    spec = load_rules([tmp_path], frozenset({"air-defence", "energy-infrastructure", "nato-accession"}))
    assert [r.name for r in spec.rules] == ["never"]


def test_term_audit_names_the_term_that_alone_decides_an_item() -> None:
    from benchmarks.term_audit import audit
    from streams.core.tagging import parse_taxonomy

    spec = parse_taxonomy("topics:\n  t:\n    terms:\n      en: [air defence, interceptor, air defense]\n")
    rows = [{"id": "a", "lang": "en", "title": "Air defence and interceptors", "summary": "", "topics": ["t"]},
            {"id": "b", "lang": "en", "title": "New interceptor ordered", "summary": "", "topics": ["t"]},
            {"id": "c", "lang": "en", "title": "Football results", "summary": "", "topics": []}]
    assert audit(spec, rows) == [("t", "en", "interceptor", ["b"])]
    old = parse_taxonomy("topics:\n  t:\n    terms:\n      en: [interceptor]\n")
    assert audit(spec, rows, since=old) == []  # only terms added since
