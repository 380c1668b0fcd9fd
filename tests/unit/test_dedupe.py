"""Dedupe decisions: exact and near duplicates, translations, the horizon, bounded state."""

from __future__ import annotations

from streams.core import dedupe
from streams.core.pipeline import MemoryState, analyze, decide
from streams.core.tagging import compile_taxonomy, parse_taxonomy
from streams.schema import NewsItem

TAX = compile_taxonomy(parse_taxonomy("topics:\n  t:\n    terms: {en: [strike]}\n"))
DAY = 86400.0
BODY = ("NATO Secretary General Jens Stoltenberg said on Thursday during an unannounced visit to Kyiv "
        "that Ukrainian forces were gradually gaining ground against Russian invaders in the south.")


def item(i: str, title: str = "Stoltenberg in Kyiv", summary: str = BODY, url: str = "", lang: str = "en",
         source: str = "a") -> NewsItem:
    return NewsItem(id=i, title=title, summary=summary, url=url or f"https://{source}.example/{i}",
                    lang=lang, source=source)


def run(items: list[NewsItem], gap: float = 60.0) -> list[tuple[str, str | None, str | None]]:
    st = MemoryState()
    out = []
    for n, it in enumerate(items):
        t = st.run(it, TAX, None, now=1_700_000_000 + n * gap).tagged
        out.append((t.story, t.duplicate_of, t.duplicate_reason))
    return out


def test_same_id_is_a_duplicate() -> None:
    (s1, _, _), (s2, dup, why) = run([item("a"), item("a", source="b")])
    assert (s2, dup, why) == (s1, "a", "id")


def test_same_canonical_url_under_another_id() -> None:
    res = run([item("a", url="https://x.example/1"), item("b", title="Other title", summary="short", url="https://x.example/1")])
    assert res[1][1:] == ("a", "url")


def test_same_text_under_another_url() -> None:
    res = run([item("a"), item("b", source="b")])
    assert res[1][1:] == ("a", "text")


def test_reworded_story_is_a_near_duplicate_and_counts_outlets() -> None:
    st = MemoryState()
    first = st.run(item("a", source="reuters"), TAX, None, now=1e9).tagged
    reworded = item("b", title="Stoltenberg in Kyiv", summary=BODY.replace("gradually ", "").replace("Thursday", "Thursday,"),
                    source="ap")
    second = st.run(reworded, TAX, None, now=1e9 + 60).tagged
    assert (second.story, second.duplicate_of, second.duplicate_reason) == (first.story, "a", "near")
    assert second.outlets == 2 and second.sources == ["reuters", "ap"]


def test_translation_is_a_different_item() -> None:
    german = ("Nato-Generalsekretär Jens Stoltenberg sagte am Donnerstag bei einem unangekündigten Besuch in "
              "Kiew, die ukrainischen Streitkräfte machten im Süden nach und nach Boden gut.")
    res = run([item("a"), item("b", title="Stoltenberg in Kiew", summary=german, lang="de", source="b")])
    assert res[1][1] is None and res[1][0] != res[0][0]


def test_unrelated_story_is_new() -> None:
    res = run([item("a"), item("b", title="Power outage in Kharkiv",
                               summary="Russian missiles hit energy facilities in Kharkiv overnight, leaving "
                                       "thousands of households without electricity, officials said.")])
    assert res[1][1] is None


def test_duplicate_after_the_horizon_starts_a_new_story() -> None:
    res = run([item("a"), item("b", source="b")], gap=8 * DAY)
    assert res[1][1] is None


def test_a_candidate_key_keeps_only_its_newest_items() -> None:
    st = MemoryState()
    for n in range(dedupe.MAX_PER_KEY + 10):
        st.run(item(f"i{n}", summary=BODY.replace("Thursday", f"day {n}")), TAX, None, now=1e9 + n * DAY)
    buckets = [v for k, v in st.data.items() if k.startswith("k:")]
    assert buckets and max(len(v) for v in buckets) == 8 * dedupe.MAX_PER_KEY
    newest = dedupe.item_hash(f"i{dedupe.MAX_PER_KEY + 9}").to_bytes(8, "little")
    assert any(v.endswith(newest) for v in buckets)


def test_the_same_kind_of_report_with_other_figures_is_another_story() -> None:
    a = item("a", title="Air defence downs 31 of 35 drones",
             summary="Ukraine's air force said its air defences destroyed 31 of 35 Shahed drones launched overnight.")
    b = item("b", title="Air defence downs 44 of 50 drones", source="b",
             summary="Ukraine's air force said its air defences destroyed 44 of 50 Shahed drones launched overnight.")
    res = run([a, b])
    assert res[1][1] is None


def test_a_truncated_copy_is_a_near_duplicate_and_figures_it_dropped_do_not_matter() -> None:
    full = item("a", summary=BODY + " The alliance will meet 32 ministers in Brussels on 14 March.")
    short = item("b", source="b", summary=BODY)
    assert run([full, short])[1][1:] == ("a", "near")


def test_containment_is_estimated_from_the_sketch_when_texts_are_long() -> None:
    words = [f"wort{i:04d}" for i in range(200)]
    long_a = dedupe.fingerprint(NewsItem(id="a", title="t", summary=" ".join(words), lang="de"))
    long_b = dedupe.fingerprint(NewsItem(id="b", title="t", summary=" ".join(words[:150] + [f"x{i:04d}" for i in range(50)]),
                                         lang="de"))
    assert long_a.words == 200 and len(long_a.sketch) == dedupe.SKETCH_SIZE
    assert 0.6 <= dedupe.containment(long_a, long_b) <= 0.9  # exactly 0.75
    assert dedupe.containment(long_a, long_a) == 1.0


def test_a_redelivered_event_is_decided_as_the_first_time_and_changes_nothing() -> None:
    st = MemoryState()
    fp_item = item("a")
    analyzed = analyze(fp_item, TAX)
    first = decide(analyzed, rules=None, get_many=st.get_many, now=1e9, source=(0, 7, 3))
    st.data.update(first.writes)
    again = decide(analyzed, rules=None, get_many=st.get_many, now=1e9 + 5, source=(0, 7, 3))
    assert (again.tagged.story, again.tagged.duplicate_of, again.writes) == (first.tagged.story, None, {})
    republished = decide(analyzed, rules=None, get_many=st.get_many, now=1e9 + 9, source=(0, 99, 0))
    assert (republished.tagged.duplicate_of, republished.tagged.duplicate_reason) == ("a", "id")


def test_each_step_publishes_the_storys_outlets_and_sources() -> None:
    st = MemoryState()
    st.run(item("a", source="reuters"), TAX, None, now=1e9)
    second = st.run(item("b", source="ap", summary=BODY.replace("gradually ", "")), TAX, None, now=1e9 + 60)
    up = second.story_update
    assert up is not None and up.story == second.tagged.story
    assert (up.first_item, up.latest_item, up.items, up.outlets, up.sources) == ("a", "b", 2, 2, ["reuters", "ap"])
