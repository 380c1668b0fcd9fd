"""Dedupe decisions: exact and near duplicates, translations, the horizon, bounded state."""

from __future__ import annotations

from streams.core import dedupe
from streams.core.pipeline import MemoryState
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


def test_index_entries_are_pruned_and_bounded() -> None:
    fp = dedupe.fingerprint(item("z"))
    entries: list[dedupe.Seen] = []
    for n in range(40):
        e = dedupe.Seen(item=f"i{n}", story="s", first="i0", simhash=0, lang="en", at=float(n * DAY / 10))
        entries = dedupe.merge_entries(entries, e, now=float(n * DAY / 10), horizon_s=DAY)
    assert len(entries) <= dedupe.MAX_ENTRIES_PER_KEY
    assert all(e.at >= 39 * DAY / 10 - DAY for e in entries)
    assert fp.lookup_keys()[0] == "id:z"


def test_simhash_distance_small_for_rewording_large_for_other_text() -> None:
    a = dedupe.simhash(BODY.lower().split())
    b = dedupe.simhash(BODY.lower().replace("gradually ", "").split())
    c = dedupe.simhash("oil prices steady as traders weigh the supply outlook in asia and europe".split())
    assert dedupe.hamming(a, b) <= dedupe.DEFAULT_MAX_DISTANCE < dedupe.hamming(a, c)


def test_each_step_publishes_the_storys_outlets_and_sources() -> None:
    st = MemoryState()
    st.run(item("a", source="reuters"), TAX, None, now=1e9)
    second = st.run(item("b", source="ap", summary=BODY.replace("gradually ", "")), TAX, None, now=1e9 + 60)
    up = second.story_update
    assert up is not None and up.story == second.tagged.story
    assert (up.first_item, up.latest_item, up.items, up.outlets, up.sources) == ("a", "b", 2, 2, ["reuters", "ap"])
