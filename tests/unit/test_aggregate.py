"""Rules over many items (frequency, spike, new_term, flatline) and digests, as pure functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts import aggregate_core, offline
from alerts import windows as agg
from alerts.loader import load_rules
from alerts.model import RuleSpec
from streams.core.pipeline import rule_event
from streams.schema import Alert, Match, NewsItem, RuleItem, TaggedItem

T0 = 1_700_000_000.0
TOPICS = frozenset({"air-defence", "energy-infrastructure", "nato-accession"})


Store = offline.DictStore


def spec(tmp_path: Path, text: str) -> RuleSpec:
    p = tmp_path / "r.yaml"
    p.write_text("rules:\n  - name: r\n" + text)
    return load_rules([p], TOPICS).rules[0]


def event(at: float, item: str = "i", source: str = "kyiv-independent", values: list[str] | None = None,
          groups: list[str] | None = None) -> RuleItem:
    return RuleItem(rule="r", at=at, groups=groups or ["*"], values=values or [], item=item,
                     title=f"title {item}", url=f"https://x.example/{item}", source=source)


def feed(store: Store, s: RuleSpec, events: list[RuleItem]) -> list[Alert]:
    out: list[Alert] = []
    for ev in events:
        out += store.apply(aggregate_core.on_item(s, ("console",), ev, store.get_many, ev.at)).alerts
    return out


def test_frequency_fires_at_the_threshold_within_the_window_then_respects_realert(tmp_path: Path) -> None:
    s = spec(tmp_path, "    type: frequency\n    window: 1h\n    threshold: 3\n    realert: 2h\n")
    st = Store()
    assert feed(st, s, [event(T0, "a"), event(T0 + 600, "b")]) == []
    fired = feed(st, s, [event(T0 + 1200, "c")])
    assert len(fired) == 1 and fired[0].reason == "3 items within 1h (threshold 3)"
    assert fired[0].summary.splitlines() == ["• title c (kyiv-independent)", "• title b (kyiv-independent)",
                                             "• title a (kyiv-independent)"]
    assert feed(st, s, [event(T0 + 1800, "d")]) == []  # within realert
    assert feed(st, s, [event(T0 + 4 * 3600 + n, f"e{n}") for n in range(3)]) != []  # a new burst, after realert


def test_frequency_forgets_items_older_than_the_window(tmp_path: Path) -> None:
    s = spec(tmp_path, "    type: frequency\n    window: 10m\n    threshold: 2\n")
    st = Store()
    assert feed(st, s, [event(T0, "a"), event(T0 + 3600, "b")]) == []


def test_frequency_counts_per_group(tmp_path: Path) -> None:
    s = spec(tmp_path, "    type: frequency\n    window: 1h\n    threshold: 2\n    group_by: source\n")
    st = Store()
    fired = feed(st, s, [event(T0, "a", groups=["welt"]), event(T0 + 1, "b", groups=["ap"]),
                         event(T0 + 2, "c", groups=["welt"])])
    assert [a.key for a in fired] == ["welt"]


def test_spike_needs_a_full_baseline_and_fires_on_a_rise(tmp_path: Path) -> None:
    s = spec(tmp_path, "    type: spike\n    window: 1h\n    baseline: 3h\n    spike_height: 3\n"
                       "    min_current: 5\n    min_baseline: 3\n")
    st = Store()
    steady = [event(T0 + n * 1800, f"s{n}") for n in range(9)]  # one item per 30 min for 4 h
    assert feed(st, s, steady) == []
    burst = [event(T0 + 4 * 3600 + 60 * n, f"b{n}") for n in range(7)]  # 7 within the next hour
    fired = feed(st, s, burst)
    assert len(fired) == 1 and "against a baseline of" in fired[0].reason


def test_spike_down_fires_on_a_tick_when_items_stop(tmp_path: Path) -> None:
    s = spec(tmp_path, "    type: spike\n    spike_type: down\n    window: 1h\n    spike_height: 3\n"
                       "    min_current: 3\n    min_baseline: 3\n")
    st = Store()
    feed(st, s, [event(T0 + n * 600, f"s{n}") for n in range(12)])  # 6 per hour for 2 h, then nothing
    tick = lambda now: st.apply(aggregate_core.on_tick([s], lambda _: ("console",), st.get_many, now))  # noqa: E731
    assert tick(T0 + 2 * 3600).alerts == []  # the last hour is as busy as the one before
    assert len(tick(T0 + 2 * 3600 + 45 * 60).alerts) == 1  # one item in the last hour against six


def test_new_term_alerts_for_a_value_not_seen_within_the_window_after_warmup(tmp_path: Path) -> None:
    s = spec(tmp_path, "    type: new_term\n    field: term\n    window: 30d\n    warmup: 1h\n")
    st = Store()
    assert feed(st, s, [event(T0, "a", values=["NASAMS"])]) == []  # warm-up: learning what is usual
    assert feed(st, s, [event(T0 + 7200, "b", values=["NASAMS"])]) == []  # seen an hour ago
    fired = feed(st, s, [event(T0 + 7300, "c", values=["NASAMS", "IRIS-T SLM"])])
    assert [a.reason for a in fired] == ["new term: IRIS-T SLM (not seen within 30d)"]
    assert feed(st, s, [event(T0 + 40 * 86400, "d", values=["NASAMS"])]) != []  # gone for over 30 days


def test_flatline_fires_when_a_source_goes_silent_once_watched_for_a_window(tmp_path: Path) -> None:
    s = spec(tmp_path, "    type: flatline\n    window: 2h\n    threshold: 1\n    group_by: source\n    realert: 6h\n")
    st = Store()
    feed(st, s, [event(T0, "a", groups=["welt"]), event(T0 + 3000, "b", groups=["ap"])])
    tick = lambda now: st.apply(aggregate_core.on_tick([s], lambda _: ("console",), st.get_many, now))  # noqa: E731
    assert tick(T0 + 3600).alerts == []
    feed(st, s, [event(T0 + 7000, "c", groups=["ap"])])
    late = tick(T0 + 2 * 3600 + 600)
    assert [a.key for a in late.alerts] == ["welt"]  # ap published within the last 2 h, welt did not
    assert tick(T0 + 3 * 3600).alerts == []  # realert


def test_flatline_of_a_rule_with_no_items_at_all(tmp_path: Path) -> None:
    s = spec(tmp_path, "    type: flatline\n    topics: [nato-accession]\n    window: 1h\n")
    st = Store()
    tick = lambda now: st.apply(aggregate_core.on_tick([s], lambda _: ("console",), st.get_many, now))  # noqa: E731
    assert tick(T0).alerts == []  # starts watching
    assert [a.key for a in tick(T0 + 3601).alerts] == ["*"]


def test_digest_waits_group_wait_then_sends_every_group_interval(tmp_path: Path) -> None:
    s = spec(tmp_path, "    type: match\n    group_wait: 30s\n    group_interval: 5m\n    repeat_interval: 1h\n")
    st = Store()

    def alert(n: int) -> Alert:
        return Alert(id=f"a{n}", rule="r", severity="warning", key="s", fired_at=aggregate_core.datetime.now(aggregate_core.UTC),
                     receivers=["console"], title=f"story {n}", url=f"https://x.example/{n}")

    def tick(now: float) -> list[Alert]:
        return st.apply(aggregate_core.on_tick([s], lambda _: ("console",), st.get_many, now)).notifications

    st.apply(aggregate_core.on_digest(s, alert(1), st.get_many, T0))
    assert tick(T0 + 10) == []
    st.apply(aggregate_core.on_digest(s, alert(2), st.get_many, T0 + 20))
    first = tick(T0 + 31)
    assert [[e.id for e in n.digest] for n in first] == [["a1", "a2"]] and first[0].title == "2 alerts of r"
    st.apply(aggregate_core.on_digest(s, alert(3), st.get_many, T0 + 60))
    assert tick(T0 + 120) == []  # group_interval not over
    assert [[e.id for e in n.digest] for n in tick(T0 + 31 + 300)] == [["a3"]]
    assert tick(T0 + 3 * 3600) == []  # quiet: the group is forgotten
    st.apply(aggregate_core.on_digest(s, alert(4), st.get_many, T0 + 4 * 3600))
    assert tick(T0 + 4 * 3600 + 5) == []  # a new group waits group_wait again


def test_a_digest_of_more_alerts_than_it_lists_counts_every_one(tmp_path: Path) -> None:
    """Issue 15: a digest kept its last 50 alerts and dropped the rest without a word."""
    from alerts.render import console_text, slack_payload
    from tests.slack_blocks import texts, validate_message

    s = spec(tmp_path, "    type: match\n    group_wait: 30s\n    group_interval: 5m\n    repeat_interval: 1h\n")
    st = Store()
    for n in range(130):
        st.apply(aggregate_core.on_digest(s, Alert(
            id=f"a{n}", rule="r", severity="warning", key="s", fired_at=aggregate_core.datetime.now(aggregate_core.UTC),
            receivers=["console"], title=f"story {n}", url=f"https://x.example/{n}"), st.get_many, T0 + n * 0.1))
    [digest] = st.apply(aggregate_core.on_tick([s], lambda _: ("console",), st.get_many, T0 + 60)).notifications
    assert digest.digest_total == 130 and len(digest.digest) == aggregate_core.MAX_DIGEST_ENTRIES
    assert digest.title == "130 alerts of r" and "the newest 50 listed" in digest.reason
    assert digest.digest[-1].id == "a129"
    payload = slack_payload(digest)
    validate_message(payload)
    assert any("… and 80 more" in t for t in texts(payload))
    assert "… and 110 more" in console_text(digest)  # the console lists 20


def test_stage_two_gives_aggregate_rules_a_rule_event_with_groups_and_values(tmp_path: Path) -> None:
    s = spec(tmp_path, "    type: new_term\n    field: term\n")
    t = TaggedItem(item=NewsItem(id="i", title="Spain sends Hawk launchers", source="agency", lang="en"),
                   story="s-1", topics=["air-defence"],
                   matches=[Match(topic="air-defence", term="Hawk", field="title", start=12, end=16)])
    ev = rule_event(s, t, T0)
    assert (ev.rule, ev.values, ev.groups, ev.source) == ("r", ["Hawk"], ["*"], "agency")
    names = spec(tmp_path, "    type: new_term\n    field: name\n")
    assert rule_event(names, t, T0).values == ["Hawk"]


@pytest.mark.parametrize(("title", "expected"), [
    ("Spain sends Hawk launchers to Ukraine", ["Hawk", "Ukraine"]),
    ("Столтенберг прибув до Києва", ["Києва"]),
    ("IRIS-T SLM arrives in Odesa", ["Odesa", "SLM"]),
])
def test_names_are_capitalised_words_and_acronyms_but_the_first_word(title: str, expected: list[str]) -> None:
    assert agg.names(title) == expected


def test_a_backlog_read_at_once_counts_in_the_hours_it_was_published_not_in_one_window(tmp_path: Path) -> None:
    """Issue 16, hole 8: after an outage, 30 items of the last ten hours arrived within a minute
    and fired a frequency rule (10 within 1h) that the stream as published never met."""
    from datetime import UTC, datetime

    from streams.core.pipeline import rule_event
    from streams.schema import NewsItem, TaggedItem

    s = spec(tmp_path, "    type: frequency\n    window: 1h\n    threshold: 10\n")
    st = Store()
    now = T0 + 10 * 3600
    fired: list[Alert] = []
    for n in range(30):  # one item every 20 minutes, all processed at `now`
        item = NewsItem(id=f"b{n}", title=f"backlog {n}", source="s", lang="en",
                        published=datetime.fromtimestamp(T0 + n * 1200, UTC))
        ev = rule_event(s, TaggedItem(item=item, story=f"s-{n}", topics=["energy-infrastructure"]), now + n)
        assert ev.at == T0 + n * 1200
        fired += st.apply(aggregate_core.on_item(s, ("console",), ev, st.get_many, now + n)).alerts
    assert fired == []
    burst = [NewsItem(id=f"n{n}", title=f"now {n}", source="s", lang="en", published=datetime.fromtimestamp(now, UTC))
             for n in range(10)]
    for item in burst:  # ten within the hour, as published: fires
        ev = rule_event(s, TaggedItem(item=item, story=item.id, topics=["energy-infrastructure"]), now + 60)
        fired += st.apply(aggregate_core.on_item(s, ("console",), ev, st.get_many, now + 60)).alerts
    assert len(fired) == 1


class OneRule:
    """aggregate_core.Rules over one rule spec, its state in partition 0."""

    def __init__(self, s: RuleSpec) -> None:
        self.s = s

    def spec(self, name: str) -> RuleSpec | None:
        return self.s if name == self.s.name else None

    def receivers(self, spec: RuleSpec) -> tuple[str, ...]:
        return ("webhook",)

    def timed(self, partition: int) -> list[RuleSpec]:
        return [self.s]


def test_a_rule_event_read_again_counts_nothing_twice_and_sends_what_it_sent(tmp_path: Path) -> None:
    """Issue 16, hole 3: a batch replayed after a crash (its state already on the changelog)
    must neither double-count its items nor lose the alert it fired to its own throttle."""
    from streams.schema import RuleEvent, encode

    s = spec(tmp_path, "    type: frequency\n    window: 1h\n    threshold: 3\n    realert: 2h\n")
    rules, st = OneRule(s), Store()

    def read(offset: int, ev: RuleEvent, now: float) -> aggregate_core.AggResult:
        return st.apply(aggregate_core.on_event(ev, 0, offset, hash(encode(ev)), rules, st.get_many, now))

    first = RuleEvent(kind="items", rule="r", items=[event(T0, "a"), event(T0 + 60, "b")])
    second = RuleEvent(kind="items", rule="r", items=[event(T0 + 120, "c")])
    assert read(0, first, T0 + 60).alerts == []
    fired = read(1, second, T0 + 120)
    assert len(fired.alerts) == 1 and not fired.replay
    window = st.data["w:r|*"]
    # The worker died before the alert reached the broker; its state did: both events are read again.
    again = [read(0, first, T0 + 300), read(1, second, T0 + 301)]
    assert [r.replay for r in again] == [True, True]
    assert again[0].alerts == [] and again[1].alerts == fired.alerts  # the same alert, the same id
    assert st.data["w:r|*"] == window  # nothing counted twice
    # A new event is counted as before: the fourth item, within realert, is throttled.
    later = read(2, RuleEvent(kind="items", rule="r", items=[event(T0 + 400, "d")]), T0 + 400)
    assert later.alerts == [] and later.suppressed == [("r", "throttle")] and not later.replay
    # An offset seen with another value (the topic was recreated) is a new event, not a replay.
    assert not read(1, RuleEvent(kind="items", rule="r", items=[event(T0 + 500, "e")]), T0 + 500).replay


def test_remembered_rule_events_stay_bounded(tmp_path: Path) -> None:
    from streams.schema import RuleEvent

    s = spec(tmp_path, "    type: frequency\n    window: 1h\n    threshold: 1000000\n")
    rules, st = OneRule(s), Store()
    for offset in range(aggregate_core.MAX_REMEMBERED + 50):
        st.apply(aggregate_core.on_event(RuleEvent(kind="tick", at=T0 + offset), 0, offset, offset, rules,
                                     st.get_many, T0 + offset))
    applied = aggregate_core._applied_dec.decode(st.data["x:0"])
    assert len(applied.seen) == aggregate_core.MAX_REMEMBERED and min(applied.seen) == 50


class Loaded:
    """aggregate_core.Rules over whatever rules a worker has loaded now (none, or changed ones)."""

    def __init__(self, *specs: RuleSpec) -> None:
        self.specs = {s.name: s for s in specs}

    def spec(self, name: str) -> RuleSpec | None:
        return self.specs.get(name)

    def receivers(self, spec: RuleSpec) -> tuple[str, ...]:
        return ("webhook",)

    def timed(self, partition: int) -> list[RuleSpec]:
        return [s for s in self.specs.values() if s.aggregate or s.digest]


def test_an_event_for_a_rule_this_worker_has_not_loaded_yet_is_counted_with_the_senders_spec(tmp_path: Path) -> None:
    """Issue 16, hole 9: rule-set reloads are per worker; the aggregate stage used to drop the
    events of a rule another worker had already loaded."""

    from streams.schema import RuleEvent

    s = spec(tmp_path, "    type: frequency\n    window: 1h\n    threshold: 2\n")
    st = Store()
    from alerts.engine import CompiledRule
    sender = CompiledRule(s, lambda item: True, ("webhook",))  # the rule as the sending worker had it
    ev = RuleEvent(kind="items", rule="r", items=[event(T0, "a"), event(T0 + 60, "b")], **sender.as_sent())
    res = st.apply(aggregate_core.on_event(ev, 0, 0, 1, Loaded(), st.get_many, T0 + 60))
    assert [a.rule for a in res.alerts] == ["r"] and res.alerts[0].receivers == ["webhook"]
    bare = RuleEvent(kind="items", rule="r", items=[event(T0, "c")])  # an event from before: no spec
    assert st.apply(aggregate_core.on_event(bare, 0, 1, 2, Loaded(), st.get_many, T0 + 61)).alerts == []


def test_digest_entries_of_a_rule_reloaded_without_group_wait_or_removed_are_sent_not_stranded(tmp_path: Path) -> None:
    from streams.schema import RuleEvent

    digest = spec(tmp_path, "    type: match\n    topics: [air-defence]\n    group_wait: 10m\n")
    plain = spec(tmp_path, "    type: match\n    topics: [air-defence]\n")
    for loaded_after in (Loaded(plain), Loaded()):
        st = Store()
        for n in range(3):
            alert = Alert(id=f"a{n}", rule="r", severity="critical", key="*", receivers=["webhook"], title=f"t{n}",
                          fired_at=None)
            st.apply(aggregate_core.on_event(RuleEvent(kind="digest", rule="r", alert=alert), 0, n, n, Loaded(digest),
                                         st.get_many, T0 + n))
        assert st.apply(aggregate_core.on_event(RuleEvent(kind="tick", at=T0 + 5), 0, 3, 3, Loaded(digest),
                                            st.get_many, T0 + 5)).notifications == []  # group_wait not over
        out = st.apply(aggregate_core.on_event(RuleEvent(kind="tick", at=T0 + 6), 0, 4, 4, loaded_after,
                                           st.get_many, T0 + 6)).notifications
        assert len(out) == 1 and [e.id for e in out[0].digest] == ["a0", "a1", "a2"]
        # the rule's severity as loaded now, or, for a removed rule, the one its alerts had
        assert out[0].receivers == ["webhook"] and out[0].severity == ("warning" if loaded_after.specs else "critical")
        assert not any(k.startswith("d:r|") for k in st.data)
        again = st.apply(aggregate_core.on_event(RuleEvent(kind="tick", at=T0 + 7), 0, 5, 5, loaded_after,
                                             st.get_many, T0 + 7)).notifications
        assert again == []
