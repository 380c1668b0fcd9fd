"""Feed parsing, normalising, scheduling and the feed list: pure functions, no network."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.core import schedule
from connectors.core.parse import FeedParseError, canonical_url, clean_text, parse_feed
from connectors.feeds import FeedSpec, load_feeds
from streams.core.spec import SpecError

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "connectors" / "demo"
NOW = datetime(2023, 9, 29, 12, 0, tzinfo=UTC)


def spec(**kw: object) -> FeedSpec:
    return FeedSpec(url="http://127.0.0.1/f", source="S", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("url", "expected"), [
    ("https://WWW.Welt.DE/a/b.html?utm_source=rss&utm_medium=feed#top", "https://www.welt.de/a/b.html"),
    ("https://x.example/p?id=5&fbclid=abc&gclid=z", "https://x.example/p?id=5"),
    ("http://x.example:80", "http://x.example/"),
    ("https://x.example:8443/a?b=1", "https://x.example:8443/a?b=1"),
])
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_clean_text_strips_html_entities_whitespace_and_boilerplate() -> None:
    import re

    strip = (re.compile(r"\s*Abonniere den WELT.*$", re.S),)
    raw = "<p>Stoltenberg &amp; Selenskyj</p><br/>  in   Kiew. Abonniere den WELT YouTube Channel …"
    assert clean_text(raw, strip) == "Stoltenberg & Selenskyj in Kiew."


@pytest.mark.parametrize(("name", "lang", "count", "first_id"), [
    ("welt.xml", "de", 2, "welt-video-247600000"),                       # RSS 2.0
    ("welt-youtube.xml", "de", 1, "yt:video:Qx8kStolt01"),               # YouTube channel (Atom + media)
    ("kyiv-independent.xml", "en", 3, "urn:kyivindependent:stoltenberg-kyiv"),  # Atom
    ("lemonde-fr.json", "fr", 2, "lemonde-6191234"),                     # JSON Feed 1.1
])
def test_demo_feeds_parse(name: str, lang: str, count: int, first_id: str) -> None:
    parsed = parse_feed((DEMO / name).read_bytes(), {}, spec(lang=lang), NOW)
    assert len(parsed.items) == count and parsed.partial is None
    first = parsed.items[0]
    assert first.id == first_id and first.lang == lang and first.title and first.summary
    assert first.published is not None and first.published <= NOW


def test_youtube_description_is_the_summary() -> None:
    item = parse_feed((DEMO / "welt-youtube.xml").read_bytes(), {}, spec(lang="de"), NOW).items[0]
    assert "Luftverteidigung" in item.summary


@pytest.mark.parametrize("body", [b"", b"   ", b"<html><body><h1>Welcome</h1></body></html>",
                                  b'{"hello": "world"}'])
def test_not_a_feed(body: bytes) -> None:
    with pytest.raises(FeedParseError):
        parse_feed(body, {}, spec(), NOW)


def test_malformed_xml_keeps_the_entries_that_parsed() -> None:
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            b"<item><guid>1</guid><title>Good one</title></item>"
            b"<item><guid>2</guid><title>Broken &bogus; <b>tag</title></item>")
    parsed = parse_feed(body, {}, spec(), NOW)
    assert [i.id for i in parsed.items][:1] == ["1"]
    assert parsed.partial is not None


def test_dates_missing_or_in_the_future_become_fetch_time_and_duplicate_guids_count_once() -> None:
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            b"<item><guid>a</guid><title>No date</title></item>"
            b"<item><guid>b</guid><title>Garbage date</title><pubDate>Mon, 99 Foo 20x3 99:99:99 GMT</pubDate></item>"
            b"<item><guid>c</guid><title>Far future</title><pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>"
            b"<item><guid>c</guid><title>Same guid</title></item>"
            b"</channel></rss>")
    items = parse_feed(body, {}, spec(), NOW).items
    assert [i.id for i in items] == ["a", "b", "c"]
    assert all(i.published == NOW for i in items)


def test_adaptive_interval_stays_within_bounds_and_errors_back_off_with_cap() -> None:
    st = schedule.initial(60, 600)
    st = schedule.after_success(st, 0, None, 60, 600, now=0)
    assert st.interval_s == 90
    st = schedule.after_success(st, 3, 30.0, 60, 600, now=1)  # publishes every 30 s: poll at the minimum
    assert st.interval_s == 60
    st = schedule.after_success(st, 0, 7200.0, 60, 600, now=2)  # publishes every 2 h: poll at the maximum
    assert st.interval_s == 600
    delays = []
    for _ in range(12):
        st, d = schedule.after_error(st, 60, 600)
        delays.append(d)
    assert delays[0] == 600 and delays[-1] == schedule.ERROR_BACKOFF_CAP_S and not st.healthy
    st2, d = schedule.after_error(schedule.initial(60, 600), 60, 600, retry_after_s=1800)
    assert d == 1800
    assert 0.9 * 100 <= schedule.next_delay(100, random.Random(3)) <= 1.1 * 100


def test_shipped_feed_lists_load() -> None:
    assert len(load_feeds(ROOT / "config" / "feeds.yaml")) >= 15
    demo = load_feeds(ROOT / "config" / "feeds.demo.yaml", {"demo": "http://127.0.0.1:1"})
    assert {f.lang for f in demo} == {"de", "en", "uk", "ru", "fr"}


def test_feed_list_errors_are_all_reported(tmp_path: Path) -> None:
    p = tmp_path / "feeds.yaml"
    p.write_text("feeds:\n"
                 "  - {url: 'ftp://x/feed', source: A}\n"
                 "  - {url: 'https://x/f', source: B, lang: xx}\n"
                 "  - {url: 'https://x/g', source: C, interval: {min: 1s}}\n"
                 "  - {url: 'https://x/h', source: D, strip: ['(']}\n"
                 "  - {url: 'https://x/i', sorce: E}\n")
    with pytest.raises(SpecError) as err:
        load_feeds(p)
    text = str(err.value)
    for fragment in (":2: feeds[0].url: 'ftp://x/feed' is not an http(s) URL",
                     ":3: feeds[1].lang: 'xx' is not one of de, en, fr, ru, uk",
                     ":4: feeds[2].interval.min: the minimum interval is 10s",
                     ":5: feeds[3].strip[0]: bad regular expression",
                     ":6: feeds[4]: unknown key 'sorce' (did you mean 'source'?)"):
        assert fragment in text, text


def test_entries_of_a_feed_without_a_language_hint_get_a_detected_language() -> None:
    body = ('<?xml version="1.0"?><rss version="2.0"><channel><title>mixed</title><language>en</language>'
            "<item><guid>ru</guid><title>Удар по подстанции в Харькове</title></item>"
            "<item><guid>de</guid><title>Stoltenberg in Kiew: Truppen kommen voran</title></item>"
            "<item><guid>short</guid><title>NATO</title></item></channel></rss>").encode()
    items = {i.id: i.lang for i in parse_feed(body, {}, spec(), NOW).items}
    assert items == {"ru": "ru", "de": "de", "short": "en"}  # too short to tell: the channel's <language>
    hinted = parse_feed(body, {}, spec(lang="uk"), NOW).items
    assert {i.lang for i in hinted} == {"uk"}  # the operator's hint wins


@pytest.mark.parametrize("body", [
    # RSS 0.91
    b'<?xml version="1.0"?><rss version="0.91"><channel><title>t</title><link>https://x.example/</link>'
    b"<description>d</description><language>en</language><item><title>Air defence over Kyiv</title>"
    b"<link>https://x.example/a?utm_source=x</link><description>Drones shot down.</description></item></channel></rss>",
    # RSS 1.0 (RDF)
    b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    b'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    b'<channel rdf:about="https://x.example/"><title>t</title><link>https://x.example/</link><description>d</description>'
    b'<items><rdf:Seq><rdf:li rdf:resource="https://x.example/a"/></rdf:Seq></items></channel>'
    b'<item rdf:about="https://x.example/a"><title>Air defence over Kyiv</title><link>https://x.example/a?utm_source=x</link>'
    b"<description>Drones shot down.</description><dc:date>2023-09-28T10:00:00Z</dc:date></item></rdf:RDF>",
])
def test_rss_091_and_rss_10_parse(body: bytes) -> None:
    (it,) = parse_feed(body, {}, spec(lang="en"), NOW).items
    assert (it.title, it.summary, it.url) == ("Air defence over Kyiv", "Drones shot down.", "https://x.example/a")
    assert it.id  # a guid, else the canonical URL
