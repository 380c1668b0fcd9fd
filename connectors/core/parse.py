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
import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import charset_normalizer
import feedparser

from connectors.core.entries import (
    MAX_ENTRIES,
    MAX_MARKUP_IN,
    MAX_SUMMARY,
    MAX_TITLE,
    Entries,
    FeedParseError,
    Parsed,
    canonical_url,
    clean_text,
    item_id,
    plausible_time,
)
from connectors.core.jsonfeed import parse_json_feed
from connectors.feeds import FeedSpec


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


def parse_feed(body: bytes, headers: Mapping[str, str], feed: FeedSpec, now: datetime) -> Parsed:
    """Parse a fetched body into NewsItems (duplicate entry ids within the feed kept once).

    Raises FeedParseError when the body is not a feed or is refused (module docstring); an entry
    that cannot be read is skipped and reported in `partial`, the others kept."""
    if not body.strip():
        raise FeedParseError("empty body")
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8):]
    if body.lstrip()[:1] in (b"{", b"["):
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


__all__ = ["MAX_ENTRIES", "MAX_MARKUP_IN", "MAX_SUMMARY", "MAX_TITLE", "Entries", "FeedParseError", "Parsed",
           "canonical_url", "clean_text", "item_id", "parse_feed", "plausible_time"]
