"""JSON Feed 1.1 (https://jsonfeed.org/version/1.1) → NewsItems. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from connectors.core.language import detect
from connectors.feeds import FeedSpec
from streams.schema import NewsItem

if TYPE_CHECKING:
    from connectors.core.parse import Parsed


def _date(value: Any, now: datetime) -> datetime:
    from connectors.core.parse import FUTURE_TOLERANCE

    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return now
        dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
        dt = dt.astimezone(UTC)
        return min(dt, now) if dt > now + FUTURE_TOLERANCE else dt
    return now


def parse_json_feed(body: bytes, feed: FeedSpec, now: datetime) -> Parsed:
    from connectors.core.parse import (
        MAX_SUMMARY,
        MAX_TITLE,
        FeedParseError,
        Parsed,
        canonical_url,
        clean_text,
        item_id,
    )

    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FeedParseError(f"not a feed (invalid JSON: {exc})") from exc
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise FeedParseError("not a feed (JSON without a jsonfeed.org version)")
    lang = (feed.lang or str(doc.get("language") or "")[:2]).lower()
    items: list[NewsItem] = []
    seen: set[str] = set()
    skipped = 0
    for entry in doc.get("items") or []:
        if not isinstance(entry, dict):
            skipped += 1
            continue
        title = clean_text(str(entry.get("title") or ""), feed.strip)[:MAX_TITLE]
        body_text = entry.get("content_text") or entry.get("content_html") or entry.get("summary") or ""
        summary = clean_text(str(body_text), feed.strip)[:MAX_SUMMARY]
        link = str(entry.get("url") or entry.get("external_url") or "")
        url = canonical_url(link) if link else ""
        if not title and not summary:
            continue
        iid = item_id({"id": str(entry.get("id") or "")}, url, title, feed.url)
        if iid in seen:
            continue
        seen.add(iid)
        items.append(NewsItem(id=iid, title=title, summary=summary, url=url, source=feed.source,
                              feed=feed.url, lang=(feed.lang or str(entry.get("language") or "")[:2].lower()
                                                   or detect(f"{title}. {summary[:400]}") or lang),
                              published=_date(entry.get("date_published"), now), fetched_at=now,
                              labels=dict(feed.labels)))
    return Parsed(items, f"{skipped} malformed item(s) skipped" if skipped else None, lang)
