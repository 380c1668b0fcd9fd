"""Metrics helpers: bounded label sets, and series that do not churn (issue 16, hole 12)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from streams.metrics import Leaderboard


def _series(reg: CollectorRegistry) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels.values()): s.value for m in reg.collect() for s in m.samples}


def test_leaderboard_keeps_only_the_top_entries_as_series() -> None:
    reg = CollectorRegistry()
    board = Leaderboard(Gauge("top", "t", ["story"], registry=reg), k=2)
    for story, outlets in (("a", 1), ("b", 5), ("c", 3), ("a", 6)):
        board.update(story, outlets, (story,))
    board.refresh()
    assert _series(reg) == {("a",): 6, ("b",): 5}


def test_reordering_the_top_stories_or_a_story_gaining_outlets_creates_no_series() -> None:
    """Before: the rank was a label and each joining item's title was the story's title, so
    every reordering and every join was a new series for Prometheus."""
    reg = CollectorRegistry()
    board = Leaderboard(Gauge("top", "t", ["story", "title"], registry=reg), k=3)
    ever: set[tuple[str, ...]] = set()
    steps = [("s1", 2, "Patriot battery reaches Kyiv"), ("s2", 3, "Strikes on the grid"), ("s3", 4, "Sweden joins"),
             ("s1", 5, "Kyiv gets a second Patriot battery"), ("s2", 6, "Grid strikes: blackout in Kharkiv"),
             ("s3", 7, "Sweden's flag raised in Brussels"), ("s1", 8, "Patriot: what it changes")]
    for story, outlets, title in steps:
        board.update(story, outlets, (story, title))
        board.refresh()
        ever |= set(_series(reg))
    assert ever == {("s1", "Patriot battery reaches Kyiv"), ("s2", "Strikes on the grid"), ("s3", "Sweden joins")}
    assert _series(reg)[("s1", "Patriot battery reaches Kyiv")] == 8


def test_a_story_pushed_out_of_the_top_loses_its_series() -> None:
    reg = CollectorRegistry()
    board = Leaderboard(Gauge("top", "t", ["story"], registry=reg), k=2)
    for story, outlets in (("a", 2), ("b", 3)):
        board.update(story, outlets, (story,))
    board.refresh()
    board.update("c", 9, ("c",))
    board.refresh()
    assert _series(reg) == {("c",): 9, ("b",): 3}


def test_a_shown_story_forgotten_and_updated_again_keeps_its_one_series() -> None:
    reg = CollectorRegistry()
    board = Leaderboard(Gauge("top", "t", ["story", "title"], registry=reg), k=2, keep=2)
    board.update("s1", 9, ("s1", "first title"))
    board.refresh()
    for story in ("s2", "s3"):  # s1 falls out of the `keep` most recent entries, still shown
        board.update(story, 1, (story, story))
    board.update("s1", 10, ("s1", "a later title"))
    board.refresh()
    assert [k for k in _series(reg) if k[0] == "s1"] == [("s1", "first title")]
