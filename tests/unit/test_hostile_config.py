"""The hostile configuration corpus (tests/data/hostile/config) through the real loaders and the
CLI: every bad file gets placed errors (file:line: path: message), all of them at once, quickly,
with no traceback and no value printed whole; what is valid next to them loads."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from alerts.loader import load_rules
from alerts.query import QueryError, parse
from connectors.feeds import load_feeds
from streams.core.spec import SpecError
from tests.hostile import HOSTILE

CONFIG = HOSTILE / "config"
TOPICS = frozenset({"air-defence", "energy-infrastructure", "nato-accession"})


def rule_errors(name: str) -> list[str]:
    with pytest.raises(SpecError) as exc:
        load_rules([CONFIG / name], TOPICS)
    return [f"{i.line}: {i.path}: {i.message}" for i in exc.value.issues]


def feed_errors(name: str) -> list[str]:
    with pytest.raises(SpecError) as exc:
        load_feeds(CONFIG / name, {"demo": "http://127.0.0.1:8765"})
    return [f"{i.line}: {i.path}: {i.message}" for i in exc.value.issues]


@pytest.mark.parametrize(("name", "load"), [("alias-bomb-rules.yaml", rule_errors), ("alias-bomb-feeds.yaml", feed_errors)])
def test_an_alias_bomb_is_refused_at_once(name: str, load) -> None:  # type: ignore[no-untyped-def]
    t0 = time.process_time()
    [error] = load(name)
    assert time.process_time() - t0 < 1.0  # was 98 s and 2.8 GB
    assert "expands to more than 100,000 values" in error and len(error) < 200


def test_deep_nesting_is_a_placed_error() -> None:
    assert rule_errors("deep-nesting-rules.yaml") == ["4: : nested deeper than 64 levels"]


def test_a_merge_key_from_an_extension_key_works_and_errors_in_merged_rules_are_placed() -> None:
    assert rule_errors("merge-key-rules.yaml") == ["12: rules[1].severity: 'loud' is not one of critical, info, warning"]


def test_a_duplicate_key_is_reported_with_every_other_error_of_the_file() -> None:
    errors = rule_errors("duplicate-key-rules.yaml")
    assert errors == [
        "4: : duplicate key 'type' (first at line 3)",
        "5: rules[0].severity: 'loud' is not one of critical, info, warning",
        "8: rules[1].window: expected a duration above 0, got '0s'",
        "9: rules[1].threshold: expected a whole number, got float nan",
        "13: rules[2].baseline: expected a duration above 0, got '0s'",
        "14: rules[2].spike_height: expected a finite number, got inf",
        "15: rules[2].languages[0]: unknown language 'english' (one of de, en, fr, ru, uk)",
        "16: rules[2].query: NEAR/ needs a distance of 1 to 100 words, such as NEAR/5, got 'NEAR/-1' at column 3",
        "19: rules[3].query: unknown field 'titel' (fields: title, summary; quote the word to search for it as text)"
        " at column 1",
    ]  # rules[4], the docs' example query, is valid


def test_a_file_that_is_not_utf8_is_placed_at_the_line_of_its_first_bad_byte() -> None:
    [error] = rule_errors("latin1-rules.yaml")
    assert error.startswith("4: : not UTF-8: byte 0xe9 at column 22")


def test_an_environment_variable_name_written_as_the_url_or_secret_itself_is_refused_and_not_repeated() -> None:
    errors = rule_errors("receivers-url-env.yaml")
    assert len(errors) == 2 and errors[0].startswith("4: receivers.hook.url_env: expected the name of an environment variable")
    assert "not the URL itself" in errors[0]
    assert not any("XXXXsecretXXXX" in e or "hunter2" in e for e in errors)


def test_feed_urls_with_bad_placeholders_credentials_or_ports_and_regexes_re2_cannot_run_are_placed() -> None:
    errors = feed_errors("feeds-placeholders.yaml")
    assert [e.split(":", 2)[:2] for e in errors] == [
        ["2", " feeds[0].url"], ["3", " feeds[1].url"], ["4", " feeds[2].url"], ["5", " feeds[3].url"],
        ["6", " feeds[4].url"], ["8", " feeds[6].strip[1]"]]
    assert "unknown placeholder {0}" in errors[0] and "without its pair" in errors[2]
    assert "carries credentials" in errors[3] and "s3cret" not in "".join(errors)
    assert "lookaround" in errors[5]


def test_a_catastrophic_strip_pattern_runs_in_linear_time() -> None:
    [feed] = load_feeds(_feeds_file(["(a+)+$", "(x+x+)+y"]))
    t0 = time.process_time()
    assert feed.strip[0].sub("", "a" * 5000 + "!") == "a" * 5000 + "!"
    assert feed.strip[1].sub("", "x" * 5000) == "x" * 5000
    assert time.process_time() - t0 < 0.5  # Python's re: 0.5 s on 22 characters, x4 every 2 more


def _feeds_file(patterns: list[str]) -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "feeds.yaml"
    strips = ", ".join(f"'{p}'" for p in patterns)
    path.write_text(f'feeds:\n  - {{url: "https://example.com/rss", source: s, strip: [{strips}]}}\n')
    return path


@pytest.mark.parametrize(("query", "error"), [
    ("(" * 400 + "a" + ")" * 400, "parentheses nested more than 32 deep"),
    ("a NEAR/", "NEAR/ needs a distance"),
    ("a NEAR/x b", "NEAR/ needs a distance"),
])
def test_hostile_queries_are_placed_errors(query: str, error: str) -> None:
    """Issue 17: 400 nested parentheses were a RecursionError traceback; NEAR/ and NEAR/x were words."""
    with pytest.raises(QueryError, match=error) as exc:
        parse(query)
    assert "column" in str(exc.value)


def test_five_thousand_nots_parse_without_recursion() -> None:
    from alerts.query import item_fields

    assert parse("NOT " * 5000 + "patriot")(item_fields("Patriot battery", "")) is True  # an even number of NOTs
    assert parse("NOT " * 4999 + "patriot")(item_fields("Patriot battery", "")) is False


def test_the_documented_near_group_query_matches() -> None:
    from alerts.query import item_fields

    pred = parse('Patriot NEAR/3 (battery OR system) AND NOT title:"New England"')
    assert pred(item_fields("A Patriot air defence system arrives", ""))
    assert not pred(item_fields("Patriot fans cheer", "the new battery"))


def test_the_cli_reports_every_hostile_file_without_a_traceback() -> None:
    for name in sorted(p.name for p in CONFIG.iterdir()):
        cmd = ["feeds", "lint", str(CONFIG / name)] if "feeds" in name else ["rules", "lint", str(CONFIG / name)]
        out = subprocess.run([sys.executable, "-m", "streams.cli", *cmd], capture_output=True, text=True, timeout=60)
        assert out.returncode == 1, (name, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr and f"{name}:" in out.stderr, (name, out.stderr)
