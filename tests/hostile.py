"""The hostile-input corpus (tests/data/hostile/): the committed files, and the cases too large
to commit, built here byte for byte the same on every run."""

from __future__ import annotations

from pathlib import Path

HOSTILE = Path(__file__).parent / "data" / "hostile"
FEEDS = HOSTILE / "feeds"
GOOD = ('<item><guid>good-1</guid><title>Air defence shot down twelve drones over Kyiv</title>'
        '<link>https://hostile.example/good-1</link></item>')


def feed(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def rss(*items: str, prolog: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<rss version="2.0"><channel><title>hostile</title>'
            f'<link>https://hostile.example/</link><description>d</description>{"".join(items)}</channel></rss>').encode()


def summary_of(markup: str) -> bytes:
    """One entry whose summary is `markup` (escaped as text), then a good entry."""
    escaped = markup.replace("&", "&amp;").replace("<", "&lt;")
    return rss(f"<item><guid>big</guid><title>Big summary</title><description>{escaped}</description></item>", GOOD)


def escaped_anchors() -> bytes:
    """900 KB of `&lt;a ` in a summary (the tag-stripping regexes were quadratic on it)."""
    return rss("<item><guid>big</guid><title>Big summary</title><description>"
               + "&lt;a " * 150_000 + "</description></item>", GOOD)


def unclosed_paragraphs() -> bytes:
    """600 KB of unclosed `<p` in a summary."""
    return summary_of("<p" * 300_000)


def entity_expansion(size: int = 310_000) -> bytes:
    """A quadratic blow-up: one entity of 10,000 characters referenced throughout the body
    (expat refuses it; feedparser's loose fallback expanded it)."""
    refs = "&e;" * ((size - 10_200) // 3)
    prolog = f'<!DOCTYPE rss [<!ENTITY e "{"x" * 10_000}">]>'
    return rss(f"<item><guid>q</guid><title>{refs}</title></item>", GOOD, prolog=prolog)


def many_entries(n: int = 100_000) -> bytes:
    return rss(*(f"<item><guid>e{i}</guid><title>Entry {i} about air defence</title></item>" for i in range(n)))


def big_feed(megabytes: int = 5) -> bytes:
    """A feed of about `megabytes` MB in 200 entries of long summaries."""
    text = "Luftverteidigung und Energieinfrastruktur. " * (megabytes * 1024 * 1024 // 200 // 44)
    return rss(*(f"<item><guid>b{i}</guid><title>Big {i}</title><description>{text}</description></item>"
                 for i in range(200)))


def element_heavy_feed(entries: int = 200, per_entry: int = 1000) -> bytes:
    """About 5 MB in 200,000 small elements: within every size bound, and seconds of feedparser's
    Python per element (the case that must not run on the connector's event loop)."""
    cats = "<category>c</category>" * per_entry
    return rss(*(f"<item><guid>h{i}</guid><title>Heavy {i}</title>{cats}</item>" for i in range(entries)))
