"""Feed bytes → NewsItems. Pure: parsing and normalising take bytes, headers and `now`.

feedparser parses bytes (never a URL: it would download synchronously). A feed that parses only in
part keeps the entries that did (feedparser's `bozo` flag is reported, not fatal).
"""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser

from connectors.core.language import detect
from connectors.feeds import FeedSpec
from streams.core.text import squash_ws
from streams.schema import NewsItem

_TRACKING = re.compile(r"^(utm_[a-z_]+|fbclid|gclid|dclid|gclsrc|msclkid|mc_cid|mc_eid|yclid|igshid|"
                       r"_hsenc|_hsmi|ref_src|cmpid|at_medium|at_campaign|wt_mc|ocid)$", re.I)
_TAG = re.compile(r"<[^>]*>")
_BLOCK = re.compile(r"</?(p|br|div|li|h[1-6]|tr|blockquote)\b[^>]*>", re.I)
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
    """The URL with tracking parameters and the fragment removed and the host lowercased."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    host = (parts.hostname or "").lower()
    netloc = host + (f":{parts.port}" if parts.port and parts.port not in (80, 443) else "")
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), netloc, path, urlencode(query), ""))


def clean_text(value: str, strip: tuple[re.Pattern[str], ...] = ()) -> str:
    """HTML to plain text: tags removed, entities decoded, white space folded, boilerplate cut."""
    text = _BLOCK.sub(" ", value)
    text = html.unescape(_TAG.sub("", text))
    text = squash_ws(text)
    for pattern in strip:
        text = pattern.sub("", text)
    return squash_ws(text)


def _time(entry: Mapping[str, Any], now: datetime) -> datetime:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        st = entry.get(key)
        if st:
            try:
                dt = datetime.fromtimestamp(calendar.timegm(st), UTC)
            except (OverflowError, ValueError, OSError):
                continue
            if dt.year < 1990:
                continue
            return min(dt, now) if dt > now + FUTURE_TOLERANCE else dt
    return now


def _summary(entry: Mapping[str, Any]) -> str:
    # YouTube's channel feeds carry the text in media:description, which feedparser exposes as
    # `media_description` or inside `summary`; Atom content wins when it is longer.
    candidates = [entry.get("summary") or "", entry.get("media_description") or ""]
    for c in entry.get("content") or ():
        candidates.append(c.get("value") or "")
    return max(candidates, key=len)


def item_id(entry: Mapping[str, Any], url: str, title: str, feed_url: str) -> str:
    guid = (entry.get("id") or entry.get("guid") or "").strip()
    if guid:
        return guid[:500]
    if url:
        return url
    return "h:" + hashlib.blake2b(f"{feed_url}|{title}".encode(), digest_size=12).hexdigest()


def parse_feed(body: bytes, headers: Mapping[str, str], feed: FeedSpec, now: datetime) -> Parsed:
    """Parse a fetched body into NewsItems (duplicate entry ids within the feed kept once)."""
    if not body.strip():
        raise FeedParseError("empty body")
    if body.lstrip()[:1] in (b"{", b"["):
        from connectors.core.jsonfeed import parse_json_feed

        return parse_json_feed(body, feed, now)
    d = feedparser.parse(io.BytesIO(body), response_headers={k.lower(): v for k, v in headers.items()},
                         sanitize_html=False, resolve_relative_uris=False)
    version = d.get("version") or ""
    if not version and not d.entries:
        reason = d.get("bozo_exception")
        raise FeedParseError(f"not a feed ({type(reason).__name__ if reason else 'no feed elements'}"
                             f"{': ' + str(reason)[:200] if reason else ''})")
    channel_lang = (d.feed.get("language") or "")[:2].lower()
    items: list[NewsItem] = []
    seen: set[str] = set()
    for entry in d.entries:
        title = clean_text(entry.get("title") or "", feed.strip)[:MAX_TITLE]
        summary = clean_text(_summary(entry), feed.strip)[:MAX_SUMMARY]
        link = entry.get("link") or ""
        url = canonical_url(link) if link else ""
        if not title and not summary:
            continue
        iid = item_id(entry, url, title, feed.url)
        if iid in seen:
            continue
        seen.add(iid)
        lang = feed.lang or detect(f"{title}. {summary[:400]}") or channel_lang
        items.append(NewsItem(
            id=iid, title=title, summary=summary, url=url, source=feed.source, feed=feed.url,
            lang=lang, published=_time(entry, now), fetched_at=now, labels=dict(feed.labels),
        ))
    partial = None
    if d.get("bozo") and d.get("bozo_exception") is not None:
        exc = d["bozo_exception"]
        if not isinstance(exc, feedparser.CharacterEncodingOverride):
            partial = f"{type(exc).__name__}: {str(exc)[:200]}"
    links = {ln.get("rel"): ln.get("href") for ln in d.feed.get("links", []) if ln.get("href")}
    return Parsed(items, partial, feed.lang or channel_lang, links.get("hub"), links.get("self"))
