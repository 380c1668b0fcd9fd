"""Old entries are not news (issue 14): an entry already older than its feed's backlog_age when
first seen is published as backlog, joins its story, and fires no per-item alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.engine import compile_rules
from alerts.loader import load_rules
from connectors.core.parse import parse_feed
from connectors.feeds import DEFAULT_BACKLOG_AGE_S, FeedSpec, load_feeds
from streams.core.pipeline import MemoryState
from streams.core.spec import SpecError
from streams.core.tagging import compile_taxonomy, load_taxonomy
from streams.schema import NewsItem, decode, encode

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def rss(*entries: tuple[str, datetime | None]) -> bytes:
    items = "".join(
        f"<item><guid>{guid}</guid><title>Entry {guid}</title>"
        + (f"<pubDate>{at.strftime('%a, %d %b %Y %H:%M:%S GMT')}</pubDate>" if at else "") + "</item>"
        for guid, at in entries)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


def test_entries_older_than_the_backlog_age_when_first_seen_are_backlog() -> None:
    body = rss(("fresh", NOW - timedelta(hours=47)), ("old", NOW - timedelta(hours=49)),
               ("archive", NOW - timedelta(days=400)), ("undated", None))
    items = {i.id: i.backlog for i in parse_feed(body, {}, FeedSpec(url="https://x/f", source="x"), NOW).items}
    assert items == {"fresh": False, "old": True, "archive": True, "undated": False}
    off = FeedSpec(url="https://x/f", source="x", backlog_age_s=0.0)
    assert not any(i.backlog for i in parse_feed(body, {}, off, NOW).items)
    week = FeedSpec(url="https://x/f", source="x", backlog_age_s=7 * 86400.0)
    assert [i.id for i in parse_feed(body, {}, week, NOW).items if i.backlog] == ["archive"]


def test_json_feed_entries_are_marked_too() -> None:
    body = (b'{"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": ['
            b'{"id": "1", "title": "Old", "date_published": "2026-11-01T00:00:00Z"},'
            b'{"id": "2", "title": "New", "date_published": "2026-12-02T11:00:00Z"}]}')
    items = parse_feed(body, {}, FeedSpec(url="https://x/f", source="x"), NOW).items
    assert [(i.id, i.backlog) for i in items] == [("1", True), ("2", False)]


def test_backlog_age_in_the_feed_list_default_and_per_feed(tmp_path: Path) -> None:
    p = tmp_path / "feeds.yaml"
    p.write_text("backlog_age: 12h\nfeeds:\n  - {url: 'https://x/a', source: A}\n"
                 "  - {url: 'https://x/b', source: B, backlog_age: 0s}\n")
    assert [f.backlog_age_s for f in load_feeds(p)] == [12 * 3600.0, 0.0]
    p.write_text("feeds:\n  - {url: 'https://x/a', source: A}\n")
    assert load_feeds(p)[0].backlog_age_s == DEFAULT_BACKLOG_AGE_S == 48 * 3600.0
    p.write_text("feeds:\n  - {url: 'https://x/a', source: A, backlog_age: soon}\n")
    with pytest.raises(SpecError, match=r":2: feeds\[0\]\.backlog_age: expected a duration"):
        load_feeds(p)


def test_a_backlog_item_joins_its_story_and_fires_no_per_item_alert(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n  - {name: per-item, type: match, topics: [air-defence], key: item, realert: 1h}\n")
    rules = compile_rules(load_rules([path], frozenset({"air-defence", "energy-infrastructure", "nato-accession"})))
    tax = compile_taxonomy(load_taxonomy(ROOT / "config" / "topics.yaml"))
    body = ("Ukraine's air defence shot down 26 of 30 Shahed drones launched overnight at the southern and "
            "central regions, the air force said on Thursday.")
    state = MemoryState()
    old = NewsItem(id="old", title="Air defence downs 26 drones", summary=body, lang="en", source="a", backlog=True)
    res = state.run(old, tax, rules, now=1e9)
    assert res.alerts == [] and res.suppressed == [("per-item", "backlog")]
    assert res.tagged.topics == ["air-defence"]
    again = state.run(NewsItem(id="new", title="Air defence downs 26 drones", summary=body, lang="en", source="b"),
                      tax, rules, now=1e9 + 60)
    assert [a.rule for a in again.alerts] == ["per-item"]
    assert again.tagged.story == res.tagged.story and again.tagged.outlets == 2


def test_backlog_survives_the_record_round_trip() -> None:
    item = NewsItem(id="i", title="t", backlog=True)
    assert decode(NewsItem, encode(item)).backlog is True
    assert decode(NewsItem, b'{"id": "i", "title": "t"}').backlog is False
