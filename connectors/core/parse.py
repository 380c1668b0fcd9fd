"""Feed bytes → NewsItems. Pure: parsing and normalising take bytes, headers and `now`.

feedparser parses bytes (never a URL: it would download synchronously). A feed that parses only in
part keeps the entries that did: feedparser's `bozo` flag, an entry that cannot be read (skipped,
counted, the first reason placed by entry number), bytes that are not the declared UTF-8
(re-detected with charset_normalizer and noted), an invalid character reference (removed and
noted) all go to `Parsed.partial`, never fail the feed.

Refused with FeedParseError (docs/runbook.md): a body that is not a feed, a body over
`MAX_FEED_BYTES`, a DOCTYPE that declares entities (entity expansion), feedparser failing as a
whole. Bounded: at most `MAX_ENTRIES` entries, `MAX_MARKUP_IN` characters of markup per field
(cut before any parsing), `MAX_TITLE` / `MAX_SUMMARY` characters of text. URLs are kept only when
they are http(s) with a host and a valid port.
"""

from __future__ import annotations

import calendar
import codecs
import hashlib
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import charset_normalizer
import feedparser

from connectors.core.html import html_to_text
from connectors.core.language import detect
from connectors.feeds import FeedSpec, Pattern
from streams.core.text import squash_ws, visible
from streams.schema import NewsItem

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


def _time(entry: Mapping[str, Any], now: datetime) -> datetime:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        st = entry.get(key)
        if st:
            try:
                dt = datetime.fromtimestamp(calendar.timegm(st), UTC)
            except (OverflowError, ValueError, OSError, TypeError):
                continue
            return plausible_time(dt, now)
    return now


def plausible_time(dt: datetime, now: datetime) -> datetime:
    """`dt` in UTC, or `now` for a date before 1990; a date in the future is clamped to `now`."""
    try:
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (OverflowError, ValueError):
        return now
    if dt.year < 1990:
        return now
    return min(dt, now) if dt > now + FUTURE_TOLERANCE else dt


def _summary(entry: Mapping[str, Any]) -> str:
    # YouTube's channel feeds carry the text in media:description, which feedparser exposes as
    # `media_description` or inside `summary`; Atom content wins when it is longer.
    candidates = [_str(entry.get("summary")), _str(entry.get("media_description"))]
    for c in entry.get("content") or ():
        if isinstance(c, Mapping):
            candidates.append(_str(c.get("value")))
    return max(candidates, key=len)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


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


def parse_feed(body: bytes, headers: Mapping[str, str], feed: FeedSpec, now: datetime) -> Parsed:
    """Parse a fetched body into NewsItems (duplicate entry ids within the feed kept once).

    Raises FeedParseError when the body is not a feed or is refused (module docstring); an entry
    that cannot be read is skipped and reported in `partial`, the others kept."""
    if not body.strip():
        raise FeedParseError("empty body")
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8):]
    if body.lstrip()[:1] in (b"{", b"["):
        from connectors.core.jsonfeed import parse_json_feed

        return parse_json_feed(body, feed, now)
    if len(body) > MAX_FEED_BYTES:
        raise FeedParseError(f"feed of {len(body):,} bytes is over the {MAX_FEED_BYTES:,} bytes parsed")
    if _DTD_ENTITY.search(body[:MAX_PROLOG]) is not None:
        raise FeedParseError("refused: the feed declares XML entities in its DOCTYPE (entity expansion)")
    entries = Entries(feed)
    body = _first_entries(body, entries.notes)
    body, headers = _utf8(body, headers, entries.notes)
    body = _CHAR_REF.sub(lambda m: _char_ref(m, entries.notes), body)
    try:
        d = feedparser.parse(io.BytesIO(body), response_headers={k.lower(): v for k, v in headers.items()},
                             sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # noqa: BLE001 - feedparser's own failures, wrapped with the reason
        raise FeedParseError(f"feedparser failed: {type(exc).__name__}: {str(exc)[:200]}") from exc
    version = d.get("version") or ""
    if not version and not d.entries:
        reason = d.get("bozo_exception")
        raise FeedParseError(f"not a feed ({type(reason).__name__ if reason else 'no feed elements'}"
                             f"{': ' + str(reason)[:200] if reason else ''})")
    channel_lang = _str(d.feed.get("language"))[:2].lower()
    for index, entry in enumerate(d.entries[:MAX_ENTRIES]):
        entries.add(index, lambda e=entry: entries.item(
            guid=_str(e.get("id")) or _str(e.get("guid")), title=_str(e.get("title")), summary=_summary(e),
            link=_str(e.get("link")), lang="", fallback=channel_lang, published=_time(e, now), now=now))
    over = len(d.entries) - MAX_ENTRIES
    bozo = None
    if d.get("bozo") and d.get("bozo_exception") is not None:
        exc = d["bozo_exception"]
        if not isinstance(exc, feedparser.CharacterEncodingOverride):
            bozo = f"{type(exc).__name__}: {str(exc)[:200]}"
    links = {ln.get("rel"): ln.get("href") for ln in d.feed.get("links", []) if isinstance(ln, Mapping) and ln.get("href")}
    beyond = f"{over} entries beyond the first {MAX_ENTRIES} ignored" if over > 0 else None
    return Parsed(entries.items, entries.partial(bozo, beyond), feed.lang or channel_lang,
                  _http(links.get("hub")), _http(links.get("self")))


def _http(url: Any) -> str | None:
    return url if isinstance(url, str) and canonical_url(url) else None


# A DOCTYPE whose internal subset declares entities: real feeds never do, and expanding them is
# how a few hundred bytes become gigabytes (feedparser's loose parser expands what expat refuses).
_DTD_ENTITY = re.compile(rb"<!DOCTYPE[^\[>]{0,2000}\[[^\]]{0,1000000}?<!ENTITY", re.I)
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9A-Fa-f]{1,8})|([0-9]{1,10}));")
_XML_DECL_ENCODING = re.compile(rb"^(\s*<\?xml[^>]{0,200}?encoding\s*=\s*[\"'])([A-Za-z0-9._-]{1,40})([\"'])")
MAX_FEED_BYTES = 10 * 1024 * 1024
MAX_PROLOG = 2 * 1024 * 1024
MAX_ENTRIES = 1000
MAX_MARKUP_IN = 200_000


_ENTRY_START = re.compile(rb"<(?:item|entry)[\s>/]")
_CLOSERS = ((b"<feed", b"</feed>"), (b"<rdf:RDF", b"</rdf:RDF>"), (b"<rss", b"</channel></rss>"))


def _first_entries(body: bytes, notes: list[str]) -> bytes:
    """The body cut before its (MAX_ENTRIES + 1)-th entry and closed again, so that a feed of
    100,000 entries costs the parser what 1,000 cost (feedparser builds every entry it reads)."""
    found = 0
    for m in _ENTRY_START.finditer(body):
        found += 1
        if found > MAX_ENTRIES:
            head = body[:4096]
            closer = next((c for root, c in _CLOSERS if root in head), b"")
            notes.append(f"more than {MAX_ENTRIES} entries: the feed is read up to byte {m.start():,}, the rest ignored")
            return body[:m.start()] + closer
    return body


def _char_ref(m: re.Match[bytes], notes: list[str]) -> bytes:
    """A character reference XML forbids (a lone surrogate, NUL, a control character, beyond
    U+10FFFF) is removed, once noted; feedparser would fail on the whole feed."""
    raw = m.group(1) or m.group(2)
    cp = int(raw, 16) if m.group(1) else int(raw)
    if cp in (0x9, 0xA, 0xD) or 0x20 <= cp <= 0xD7FF or 0xE000 <= cp <= 0xFFFD or 0x10000 <= cp <= 0x10FFFF:
        return m.group()
    if not any(n.startswith("invalid character reference") for n in notes):
        notes.append(f"invalid character reference {m.group().decode()} at byte {m.start()} removed")
    return b""


def _declared(body: bytes, headers: Mapping[str, str]) -> str | None:
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    for part in ctype.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        if k.lower() == "charset" and v:
            return v.strip("\"' ").lower()
    m = _XML_DECL_ENCODING.match(body)
    return m.group(2).decode().lower() if m else None


def _utf8(body: bytes, headers: Mapping[str, str], notes: list[str]) -> tuple[bytes, Mapping[str, str]]:
    """A body that says (or defaults to) UTF-8 but is not: its encoding detected
    (charset_normalizer) and the body re-encoded as UTF-8, noted; undetectable bytes replaced."""
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return body, headers
    declared = _declared(body, headers)
    if declared not in (None, "utf-8", "utf8"):
        return body, headers
    try:
        body.decode("utf-8")
        return body, headers
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    best = charset_normalizer.from_bytes(body[:200_000]).best()
    encoding = best.encoding if best is not None else None
    if encoding and encoding.replace("_", "-") not in ("utf-8", "ascii"):
        text = body.decode(encoding, errors="replace")
        notes.append(f"declared {declared or 'UTF-8 (by default)'} but not UTF-8 from byte {bad_at}: decoded as {encoding}")
    else:
        text = body.decode("utf-8", errors="replace")
        notes.append(f"invalid UTF-8 from byte {bad_at}: undecodable bytes replaced")
    fixed = _XML_DECL_ENCODING.sub(rb"\g<1>utf-8\g<3>", text.encode("utf-8"), count=1)
    return fixed, {k: v for k, v in headers.items() if k.lower() != "content-type"}
