"""Metrics helpers: bounded label sets."""

from __future__ import annotations


def test_leaderboard_keeps_only_the_top_entries_as_series() -> None:
    from prometheus_client import CollectorRegistry, Gauge

    from streams.metrics import Leaderboard

    reg = CollectorRegistry()
    board = Leaderboard(Gauge("top", "t", ["rank", "story"], registry=reg), k=2)
    for story, outlets in (("a", 1), ("b", 5), ("c", 3), ("a", 6)):
        board.update(story, outlets, (story,))
    board.refresh()
    samples = {(s.labels["rank"], s.labels["story"]): s.value for s in reg.collect().__next__().samples}
    assert samples == {("1", "a"): 6, ("2", "b"): 5}
