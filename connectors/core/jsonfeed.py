"""JSON Feed 1.1 (https://jsonfeed.org/version/1.1) → NewsItems. Pure.

Every field is checked for its type: a feed whose `items` is not a list, an item that is not an
object, a url given as a list, a date in year 9999 or 0001 is never an exception. A bad item is
skipped and reported in `Parsed.partial` (by item number); the good ones are kept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson

from connectors.core.entries import MAX_ENTRIES, Entries, FeedParseError, Parsed, plausible_time
from connectors.feeds import FeedSpec


def _date(value: Any, now: datetime) -> datetime:
    if not isinstance(value, str):
        return now
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return now
    return plausible_time(dt if dt.tzinfo else dt.replace(tzinfo=UTC), now)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _id(value: Any) -> str:
    """An item's id: JSON Feed says a string, feeds in the wild also write a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return _text(value)


def _load(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        first = exc
    # orjson refuses what JSON allows but UTF-8 cannot hold (an escaped lone surrogate, "\ud800");
    # the standard parser reads it (surrogates are removed with the other invisible characters).
    try:
        return json.loads(body.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        raise FeedParseError(f"not a feed (invalid JSON: {str(first)[:200]})") from first


def parse_json_feed(body: bytes, feed: FeedSpec, now: datetime) -> Parsed:
    doc = _load(body)
    if not isinstance(doc, dict) or not _text(doc.get("version")).startswith("https://jsonfeed.org/version/"):
        raise FeedParseError("not a feed (JSON without a jsonfeed.org version)")
    lang = (feed.lang or _text(doc.get("language"))[:2]).lower()
    entries = Entries(feed)
    items = doc.get("items", [])
    if not isinstance(items, list):
        entries.notes.append(f"'items' is {type(items).__name__}, not a list: no items read")
        items = []
    for index, entry in enumerate(items[:MAX_ENTRIES]):
        if not isinstance(entry, dict):
            entries.skipped += 1
            entries.first_error = entries.first_error or f"item {index + 1}: {type(entry).__name__}, not an object"
            continue
        entries.add(index, lambda e=entry: entries.item(
            guid=_id(e.get("id")),
            title=_text(e.get("title")),
            summary=_text(e.get("content_text")) or _text(e.get("content_html")) or _text(e.get("summary")),
            link=_text(e.get("url")) or _text(e.get("external_url")),
            lang=_text(e.get("language"))[:2].lower(), fallback=lang, published=_date(e.get("date_published"), now),
            now=now))
    if len(items) > MAX_ENTRIES:
        entries.notes.append(f"{len(items) - MAX_ENTRIES} items beyond the first {MAX_ENTRIES} ignored")
    return Parsed(entries.items, entries.partial(), lang)

