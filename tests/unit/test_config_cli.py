"""Settings with environment overrides, and the offline CLI commands on the worker's own code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from streams.config import load_settings
from streams.core.spec import SpecError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_embedded_broker() -> None:
    s = load_settings(ROOT / "config" / "warwire.yaml", env={})
    assert s.embedded and s.bootstrap == "127.0.0.1:19092" and s.partitions == 4
    assert s.rules == (ROOT / "rules",) and s.taxonomy == ROOT / "config" / "topics.yaml"


def test_environment_overrides_the_file() -> None:
    s = load_settings(ROOT / "config" / "warwire.yaml",
                      env={"WARWIRE_BROKER": "kafka1:9092,kafka2:9092", "WARWIRE_PARTITIONS": "12",
                           "WARWIRE_DEDUPE_HORIZON": "3d", "WARWIRE_TOPIC_PREFIX": "x."})
    assert not s.embedded and s.bootstrap == "kafka1:9092,kafka2:9092"
    assert (s.partitions, s.horizon_s, s.topic("warwire.raw")) == (12, 3 * 86400, "x.warwire.raw")


def test_bad_settings_are_reported_with_their_place(tmp_path: Path) -> None:
    cfg = tmp_path / "w.yaml"
    cfg.write_text("partitions: many\nworker:\n  metrics_prot: 1\n")
    with pytest.raises(SpecError) as err:
        load_settings(cfg, env={"WARWIRE_PARTITIONS": "0"})
    text = str(err.value)
    assert f"{cfg}:1: partitions: expected a whole number" in text
    assert f"{cfg}:3: worker: unknown key 'metrics_prot' (did you mean 'metrics_port'?)" in text


def warwire(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, timeout=60)


def test_tag_and_dedupe_commands_read_jsonl() -> None:
    items = [
        {"id": "1", "title": "Germany sends more air defence systems to Ukraine", "summary": "",
         "url": "https://a.example/1", "source": "A", "lang": "en", "published": "2023-09-28T10:00:00Z"},
        {"id": "2", "title": "Germany sends more air defence systems to Ukraine", "summary": "",
         "url": "https://b.example/2", "source": "B", "lang": "en", "published": "2023-09-28T11:00:00Z",
         "extra": "ignored"},
        {"id": "3", "title": "Oil prices steady", "lang": "en"},
    ]
    jsonl = "\n".join(json.dumps(i) for i in items) + "\n"
    tag = warwire("tag", "-", stdin=jsonl)
    assert tag.returncode == 0, tag.stderr
    rows = [json.loads(line) for line in tag.stdout.splitlines()]
    assert [(r["id"], r["topics"]) for r in rows] == [("1", ["air-defence"]), ("2", ["air-defence"]), ("3", [])]
    assert rows[0]["matches"][0]["term"] == "air defence" and rows[0]["matches"][0]["start"] == 19
    dd = warwire("dedupe", "-", stdin=jsonl)
    rows = [json.loads(line) for line in dd.stdout.splitlines()]
    assert [r["duplicate_of"] for r in rows] == [None, "1", None]
    assert rows[0]["story"] == rows[1]["story"] != rows[2]["story"]


def test_bad_jsonl_lines_are_reported_and_the_rest_processed() -> None:
    res = warwire("tag", "-", stdin='{"id": "1", "title": "Luftverteidigung", "lang": "de"}\nnot json\n{"title": 5}\n')
    assert res.returncode == 1
    assert len(res.stdout.splitlines()) == 1
    assert "-:2: not a valid NewsItem" in res.stderr and "-:3: not a valid NewsItem" in res.stderr


@pytest.mark.parametrize("cmd", ["tag", "dedupe"])
def test_latin1_and_deeply_nested_lines_are_reported_by_number_and_later_lines_processed(cmd: str) -> None:
    """Issue 17: one such line was a traceback and the good lines after it were never processed."""
    good = b'{"id": "g", "title": "Luftverteidigung", "lang": "de"}\n'
    lines = [good, '{"id": "l", "title": "Caf\u00e9"}\n'.encode("latin-1"),
             b'{"id": "n", "title": "t", "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}\n", good.replace(b'"g"', b'"h"')]
    res = subprocess.run([sys.executable, "-m", "streams.cli", cmd, "-"], input=b"".join(lines), capture_output=True,
                         cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert res.returncode == 1 and b"Traceback" not in res.stderr, res.stderr[-2000:]
    assert [json.loads(x)["id"] for x in res.stdout.splitlines()] == ["g", "h"]
    assert b"-:2: not a valid NewsItem: a string is not valid UTF-8" in res.stderr
    assert b"-:3: not a valid NewsItem: nested too deeply" in res.stderr


def test_rules_lint_exit_codes() -> None:
    ok = warwire("rules", "lint", "rules")
    assert ok.returncode == 0 and ok.stdout.startswith("ok: 3 rule(s)")
    bad = warwire("rules", "lint", "tests/data/rules/three-mistakes.yaml")
    assert bad.returncode == 1
    assert bad.stderr.count("three-mistakes.yaml:") == 3 and "3 error(s)" in bad.stderr


def test_rules_backtest_says_which_alerts_fire_when_and_why() -> None:
    lines = [
        '{"id":"1","title":"Germany sends more air defence systems","lang":"en","source":"A","published":"2023-09-28T10:00:00Z"}',
        '{"id":"2","title":"Germany sends more air defence systems","lang":"en","source":"B","published":"2023-09-28T10:05:00Z"}',
        '{"id":"3","title":"Oil prices steady","lang":"en","published":"2023-09-28T11:00:00Z"}',
    ]
    res = warwire("rules", "test", "rules", "--items", "-", stdin="\n".join(lines) + "\n")
    assert res.returncode == 0, res.stderr
    out = res.stdout.splitlines()
    assert out[0] == "2023-09-28 10:00:00Z  tracked-topics [warning]  Germany sends more air defence systems"
    assert "why: topics air-defence; terms air defence" in out[1]
    assert "  tracked-topics: 1 alert(s), 1 throttled" in out and "  wide-coverage: 0 alert(s), 0 throttled" in out
    js = warwire("rules", "test", "rules", "--items", "-", "--json", stdin="\n".join(lines) + "\n")
    rows = [json.loads(x) for x in js.stdout.splitlines()]
    assert [(r["rule"], r["item"], r["at"]) for r in rows] == [("tracked-topics", "1", "2023-09-28T10:00:00+00:00")]


def test_rules_backtest_runs_rules_over_many_items_and_digests(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "r.yaml").write_text(
        "rules:\n"
        "  - {name: wave, type: frequency, topics: [energy-infrastructure], window: 1h, threshold: 3}\n"
        "  - {name: air, type: match, topics: [air-defence], group_wait: 5m, group_interval: 1h}\n")
    lines = [json.dumps({"id": f"e{i}", "title": f"Substation hit in city {i}, {i * 100 + 7} homes without power",
                         "lang": "en", "published": f"2023-09-28T10:{i * 10:02d}:00Z"}) for i in range(3)]
    lines += [json.dumps({"id": f"a{i}", "title": f"Air defence downs {i + 20} drones over region {i}", "lang": "en",
                          "published": f"2023-09-28T11:0{i}:00Z"}) for i in range(2)]
    res = warwire("rules", "test", str(tmp_path), "--items", "-", stdin="\n".join(lines) + "\n")
    assert res.returncode == 0, res.stderr
    out = res.stdout.splitlines()
    assert "    why: 3 items within 1h (threshold 3)" in out
    assert "2 alerts of air" in res.stdout
    assert "  wave: 1 alert(s), 0 throttled" in out and "  air: 1 alert(s), 0 throttled" in out


def test_taxonomy_lint_places_errors_and_warns_of_short_stems_and_shadowed_terms(tmp_path: Path) -> None:
    tax = tmp_path / "topics.yaml"
    tax.write_text("topics:\n  t:\n    terms:\n      ru: [неба, ПРО]\n      de: [Luftabwehr, Luftabwehrsystem]\n"
                   "      uk: [Сум*, Одеса*]\n      en: [ally]\n")
    res = warwire("taxonomy", "lint", str(tax))
    assert res.returncode == 0, res.stderr
    assert f"{tax}:7: topics.t.terms.en: warning: 'ally'" in res.stderr  # a short stem: whole word only
    assert "'неба'" not in res.stderr  # the dictionary knows it: it matches небо, небу, небом
    assert f"{tax}:4: topics.t.terms.ru: warning: 'ПРО' spells the common word 'про'" in res.stderr
    assert f"{tax}:5: topics.t.terms.de: warning: 'Luftabwehrsystem' is shadowed by 'Luftabwehr'" in res.stderr
    assert f"{tax}:6: topics.t.terms.uk: warning: 'Сум*' starts " in res.stderr and "сумно" in res.stderr
    assert "'Одеса*' starts" not in res.stderr
    tax.write_text("topics:\n  t:\n    terms:\n      xx: [a]\n")
    bad = warwire("taxonomy", "lint", str(tax))
    assert bad.returncode == 1 and f"{tax}:4: topics.t.terms.xx: unknown language 'xx'" in bad.stderr


def test_taxonomy_eval_prints_precision_and_recall_and_fails_below_the_given_floor(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(json.dumps(d) for d in [
        {"id": "1", "title": "Air defence shoots down drones", "lang": "en", "topics": ["air-defence"]},
        {"id": "2", "title": "Review: the air defence board game", "lang": "en", "topics": []},
        {"id": "3", "title": "Kyiv intercepts missiles", "lang": "en", "topics": ["air-defence"]},
    ]) + "\n")
    good = warwire("taxonomy", "eval", str(items), "--min-precision", "0.9")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "air-defence                  precision 1.000  recall 1.000" in good.stdout
    naive = tmp_path / "naive.yaml"  # no genre context: the board game is tagged
    naive.write_text("topics:\n  air-defence:\n    terms:\n      en: [air defence]\n")
    bad = warwire("taxonomy", "eval", str(items), "--taxonomy", str(naive), "--min-precision", "0.9", "--show-errors")
    assert bad.returncode == 1
    assert "precision 0.500  recall 0.500  (tp 1, fp 1, fn 1)  BELOW" in bad.stdout
    assert "want [] got ['air-defence'] · air-defence: 'air defence' at title[12:23]" in bad.stdout


def test_rules_test_prints_precision_and_recall_per_rule_on_items_that_expect_rules(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(json.dumps(d) for d in [
        {"id": "1", "title": "Air defence shoots down drones over Kyiv", "lang": "en", "source": "a",
         "published": "2024-03-01T10:00:00Z", "expect": ["tracked-topics"]},
        {"id": "2", "title": "Oil prices steady", "lang": "en", "source": "b", "published": "2024-03-01T11:00:00Z",
         "expect": ["tracked-topics"]},
        {"id": "3", "title": "Weather mild in Lviv", "lang": "en", "source": "c", "published": "2024-03-01T12:00:00Z",
         "expect": []},
    ]) + "\n")
    res = warwire("rules", "test", "rules/", "--items", str(items))
    assert res.returncode == 0, res.stderr
    assert ("tracked-topics: 1 alert(s), 0 throttled; precision 1.000, recall 0.500 on 3 labelled item(s) "
            "(tp 1, fp 0, fn 1)") in res.stdout
