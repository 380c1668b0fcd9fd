"""Rule files and the rule engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.engine import alert_id, compile_rules, evaluate, should_notify
from alerts.loader import load_rules
from streams.core.spec import SpecError
from streams.schema import NewsItem, TaggedItem

ROOT = Path(__file__).resolve().parents[2]
TOPICS = frozenset({"air-defence", "energy-infrastructure", "nato-accession"})


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


def tagged(topics: list[str], outlets: int = 1, dup: str | None = None, lang: str = "en") -> TaggedItem:
    return TaggedItem(item=NewsItem(id="i1", title="t", lang=lang, source="s"), story="s-1", topics=topics,
                      outlets=outlets, duplicate_of=dup)


def test_shipped_rules_load() -> None:
    spec = load_rules([ROOT / "rules"], TOPICS)
    assert {r.name for r in spec.rules} == {"tracked-topics", "wide-coverage", "energy-strike-wave"}


def test_example_rule_files_load() -> None:
    spec = load_rules([ROOT / "rules" / "examples"], TOPICS)
    assert {r.type for r in spec.rules} == {"spike", "new_term", "flatline", "match"}
    assert next(r for r in spec.rules if r.name == "nato-digest").digest


def test_three_mistakes_are_all_reported_with_their_lines() -> None:
    path = ROOT / "tests" / "data" / "rules" / "three-mistakes.yaml"
    with pytest.raises(SpecError) as err:
        load_rules([path], TOPICS)
    lines = str(err.value).splitlines()
    assert lines == [
        f"{path}:9: rules[0]: unknown key 'keywrds'",
        f"{path}:14: rules[1].realert: expected a duration such as '90s', '15m', '2h' or '7d', got 'soon'",
        f"{path}:19: rules[2].receivers[0]: unknown receiver 'slack-team'",
    ]


@pytest.mark.parametrize(("text", "message"), [
    ("rules:\n  - name: a\n    type: match\n    topics: [air-defense]\n", ":4: rules[0].topics[0]: unknown topic 'air-defense'"),
    ("rules:\n  - name: a\n    type: flood\n",
     ":3: rules[0].type: 'flood' is not one of coverage, flatline, frequency, match, new_term, spike"),
    ("rules:\n  - name: a\n    type: frequency\n    window: 1h\n", ":3: rules[0].type: a frequency rule needs threshold"),
    ("rules:\n  - name: a\n    type: match\n    spike_height: 3\n",
     ":4: rules[0].spike_height: 'spike_height' applies to spike rules, not match"),
    ("rules:\n  - name: a\n    type: new_term\n    field: word\n",
     ":4: rules[0].field: 'word' is not one of name, source, term, topic"),
    ("rules:\n  - name: a\n    type: match\n    group_interval: 5m\n",
     ":4: rules[0].group_interval: digest timing needs group_wait"),
    ("rules:\n  - name: a\n    type: match\n  - name: a\n    type: match\n", ":4: rules: rule name 'a' is already used"),
    ("rules:\n  - name: a\n    type: match\n    type: coverage\n", ":4: duplicate key 'type'"),
    ("rules:\n  - name: a\n    type: coverage\n", ":3: rules[0].type: a coverage rule needs min_outlets"),
    ("receivers:\n  s:\n    type: slack\n", ":2: receivers.s: a slack receiver needs url_env"),
])
def test_bad_rule_files(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load_rules([path], TOPICS)
    assert any(line.startswith(f"{path}{message}") for line in str(err.value).splitlines()), str(err.value)


def test_match_rule_on_any_topic_and_coverage_rule_on_outlets(tmp_path: Path) -> None:
    spec = load_rules([ROOT / "rules"], TOPICS)
    rules = compile_rules(spec)
    assert [f.rule.name for f in evaluate(rules, tagged(["air-defence"]))] == ["tracked-topics"]
    assert [f.rule.name for f in evaluate(rules, tagged(["energy-infrastructure"]))] == ["tracked-topics", "energy-strike-wave"]
    assert evaluate(rules, tagged([])) == []
    fired = evaluate(rules, tagged([], outlets=3, dup="i0"))
    assert [(f.rule.name, f.key) for f in fired] == [("wide-coverage", "s-1")]


def test_unconfigured_receivers_fall_back_to_console() -> None:
    spec = load_rules([ROOT / "rules"], TOPICS)
    rules = compile_rules(spec, {"newsroom-slack": False, "webhook": True})
    assert rules.rules[0].receivers == ("webhook",)
    rules = compile_rules(spec, {"newsroom-slack": False, "webhook": False})
    assert rules.rules[0].receivers == ("console",)


@pytest.mark.parametrize(("last", "now", "realert", "expected"), [
    (None, 100.0, 60.0, True), (50.0, 100.0, 60.0, False), (40.0, 100.0, 60.0, True),
])
def test_should_notify(last: float | None, now: float, realert: float, expected: bool) -> None:
    assert should_notify(last, now, realert) is expected


def test_alert_id_is_stable_for_rule_key_and_item() -> None:
    assert alert_id("r", "s-1", "i1") == alert_id("r", "s-1", "i1") != alert_id("r", "s-1", "i2")


def test_published_json_schema_accepts_the_shipped_rules_and_rejects_a_typo() -> None:
    import json

    import jsonschema
    from ruamel.yaml import YAML

    schema = json.loads((ROOT / "docs" / "rules.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in (ROOT / "rules" / "alerts.yaml", ROOT / "rules" / "examples" / "many-items.yaml"):
        assert list(validator.iter_errors(YAML(typ="safe").load(path.read_text()))) == [], path
    typo = YAML(typ="safe").load((ROOT / "tests" / "data" / "rules" / "three-mistakes.yaml").read_text())
    messages = sorted(e.message for e in validator.iter_errors(typo))
    assert any("'keywrds' was unexpected" in m for m in messages), messages
    assert any("'soon' does not match" in m for m in messages), messages


def test_query_and_label_conditions(tmp_path: Path) -> None:
    path = write(tmp_path, "rules:\n  - name: q\n    type: match\n"
                           "    query: 'patriot NEAR/3 battery AND NOT title:\"New England\"'\n"
                           "    labels: {country: ua}\n")
    rules = compile_rules(load_rules([path], TOPICS))

    def item(title: str, country: str) -> TaggedItem:
        return TaggedItem(item=NewsItem(id="i", title=title, lang="en", labels={"country": country}), story="s")

    assert [f.rule.name for f in evaluate(rules, item("Second Patriot missile battery arrives", "ua"))] == ["q"]
    assert evaluate(rules, item("Second Patriot missile battery arrives", "de")) == []
    assert evaluate(rules, item("New England Patriot battery of tests", "ua")) == []


def test_bad_query_is_reported_with_its_place(tmp_path: Path) -> None:
    path = write(tmp_path, "rules:\n  - name: q\n    type: match\n    query: '(patriot OR battery'\n")
    with pytest.raises(SpecError) as err:
        load_rules([path], TOPICS)
    assert str(err.value) == f"{path}:4: rules[0].query: missing ')' at column 20"


def test_a_coverage_alert_inhibits_the_same_storys_per_item_alerts(tmp_path: Path) -> None:
    from streams.core.pipeline import MemoryState
    from streams.core.tagging import compile_taxonomy, load_taxonomy

    path = write(tmp_path, "rules:\n"
                           "  - {name: per-item, type: match, topics: [air-defence], key: item, realert: 1h}\n"
                           "  - {name: wide, type: coverage, min_outlets: 2, realert: 1h}\n")
    rules = compile_rules(load_rules([path], TOPICS))
    tax = compile_taxonomy(load_taxonomy(ROOT / "config" / "topics.yaml"))
    body = ("Ukraine's air defence shot down 26 of 30 Shahed drones launched overnight at the southern and "
            "central regions, the air force said on Thursday.")
    state = MemoryState()
    fired: list[list[str]] = []
    suppressed: list[list[tuple[str, str]]] = []
    for n, (src, title) in enumerate([("a", "Air defence downs 26 drones"), ("b", "Air defence downs 26 drones overnight"),
                                      ("c", "Ukraine's air defence downs 26 drones")]):
        res = state.run(NewsItem(id=f"i{n}", title=title, summary=body, lang="en", source=src), tax, rules, now=1e9 + n)
        fired.append([a.rule for a in res.alerts])
        suppressed.append(res.suppressed)
    assert fired == [["per-item"], ["wide"], []]
    assert suppressed == [[], [("per-item", "inhibited")], [("wide", "throttle"), ("per-item", "inhibited")]]
