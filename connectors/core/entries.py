"""A feed's entries → NewsItems, whatever the feed's format (RSS/Atom in connectors.core.parse,
JSON Feed in connectors.core.jsonfeed). Pure: what every format shares — the refusal error, the
parse result, URL canonicalisation, text cleaning, plausible dates, entry ids, and `Entries`,
which builds each entry's NewsItem and isolates the entries that fail."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from connectors.core.html import html_to_text
from connectors.core.language import detect
from connectors.feeds import FeedSpec, Pattern
from streams.core.text import squash_ws, visible
from streams.schema import NewsItem

MAX_ENTRIES = 1000
MAX_MARKUP_IN = 200_000
_TRACKING = re.compile(r"^(utm_[a-z_]+|fbclid|gclid|dclid|gclsrc|msclkid|mc_cid|mc_eid|yclid|igshid|"
                       r"_hsenc|_hsmi|ref_src|cmpid|at_medium|at_campaign|wt_mc|ocid)$", re.I)
FUTURE_TOLERANCE = timedelta(minutes=10)
MAX_TITLE = 500
MAX_SUMMARY = 5000


class FeedParseError(ValueError):
    """The body is not a feed at all (HTML page, empty, unparseable)."""


@dataclass(frozen=True, slots=True)
class Parsed:
    items: list[NewsItem]
    partial: str | None  # why the feed parsed only in part, when it did
    language: str
    hub: str | None = None        # <link rel="hub">: the feed can be pushed by WebSub
    self_url: str | None = None   # <link rel="self">: the topic URL at the hub


def canonical_url(url: str) -> str:
    """The URL with tracking parameters and the fragment removed and the host lowercased; "" when
    it is not an http(s) URL with a host and a valid port (a guid such as urn:uuid:… or tag:…, a
    relative path, a port of "abc" or 99999)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or not host:
        return ""
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    netloc = host + (f":{port}" if port and port not in (80, 443) else "")
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), netloc, path, urlencode(query), ""))


def clean_text(value: str, strip: tuple[Pattern, ...] = ()) -> str:
    """HTML to plain text (connectors.core.html), then the feed's boilerplate patterns cut."""
    text = html_to_text(value)
    for pattern in strip:
        text = pattern.sub("", text)
    return squash_ws(text)


def plausible_time(dt: datetime, now: datetime) -> datetime:
    """`dt` in UTC, or `now` for a date before 1990; a date in the future is clamped to `now`."""
    try:
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (OverflowError, ValueError):
        return now
    if dt.year < 1990:
        return now
    return min(dt, now) if dt > now + FUTURE_TOLERANCE else dt


def item_id(guid: str, url: str, title: str, summary: str, feed_url: str) -> str:
    """The entry's guid; else its URL; else a hash of its feed, title and text, so entries without
    either stay distinct and the same entry keeps its id from poll to poll."""
    guid = visible(guid).strip()
    if guid:
        return guid[:500]
    if url:
        return url
    return "h:" + hashlib.blake2b(f"{feed_url}\x00{title}\x00{summary}".encode(), digest_size=12).hexdigest()


class Entries:
    """Collects a feed's items, one entry at a time: an entry that fails is skipped and counted,
    never the rest of the feed (its first failure is reported, placed by entry number)."""

    def __init__(self, feed: FeedSpec) -> None:
        self.feed = feed
        self.items: list[NewsItem] = []
        self.seen: set[str] = set()
        self.skipped = 0
        self.first_error: str | None = None
        self.notes: list[str] = []
        self.dropped_links = 0

    def add(self, index: int, build: Callable[[], NewsItem | None]) -> None:
        try:
            item = build()
        except Exception as exc:  # noqa: BLE001 - one bad entry must not cost the feed its others
            self.skipped += 1
            if self.first_error is None:
                self.first_error = f"entry {index + 1}: {type(exc).__name__}: {str(exc)[:200]}"
            return
        if item is None or item.id in self.seen:
            return
        self.seen.add(item.id)
        self.items.append(item)

    def item(self, *, guid: str, title: str, summary: str, link: str, lang: str, fallback: str,
             published: datetime, now: datetime) -> NewsItem | None:
        """A NewsItem from an entry's raw fields (None when it has no text). Its language: the
        feed list's, else the entry's own `lang`, else detected, else the feed's `fallback`."""
        feed = self.feed
        title = clean_text(title, feed.strip)[:MAX_TITLE]
        summary = clean_text(summary[:MAX_MARKUP_IN], feed.strip)[:MAX_SUMMARY]
        if not title and not summary:
            return None
        url = canonical_url(link) if link else ""
        if link and not url and link != guid:  # feedparser gives a guid as the link: not a link
            self.dropped_links += 1
            if self.dropped_links == 1:
                self.notes.append(f"link {visible(link)[:120]!r} is not an http(s) URL with a valid host and port: "
                                  "dropped (and any more such links)")
        iid = item_id(guid, url, title, summary, feed.url)
        lang = feed.lang or lang or detect(f"{title}. {summary[:400]}") or fallback
        backlog = 0 < feed.backlog_age_s < (now - published).total_seconds()
        return NewsItem(id=iid, title=title, summary=summary, url=url, source=feed.source, feed=feed.url,
                        lang=lang, published=published, fetched_at=now, labels=dict(feed.labels),
                        backlog=backlog)

    def partial(self, *more: str | None) -> str | None:
        reasons = [r for r in (*self.notes, *more) if r]
        if self.skipped:
            reasons.append(f"{self.skipped} entr{'y' if self.skipped == 1 else 'ies'} skipped ({self.first_error})")
        return "; ".join(reasons) if reasons else None


