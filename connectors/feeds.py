"""The feed list (config/feeds.yaml): strict loading into FeedSpecs, every error placed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from streams.core.spec import Node, SpecError, SpecIssue, load_yaml

LANGS = {"de", "en", "fr", "ru", "uk"}
_FEED_KEYS = {"url", "source", "lang", "interval", "labels", "enabled", "strip"}


@dataclass(frozen=True, slots=True)
class FeedSpec:
    url: str
    source: str
    lang: str = ""
    min_interval_s: float = 120.0
    max_interval_s: float = 1800.0
    labels: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    strip: tuple[re.Pattern[str], ...] = ()
    file: str = ""
    line: int = 0


def load_feeds(path: str | Path, substitutions: dict[str, str] | None = None) -> list[FeedSpec]:
    """Load a feed list. `{name}` in URLs is replaced from `substitutions` (the demo server)."""
    doc, root = load_yaml(path)
    top = root.fields({"feeds", "strip"}, {"feeds"})
    common: tuple[re.Pattern[str], ...] = ()
    feeds: list[FeedSpec] = []
    if top is not None and "strip" in top:
        common = tuple(p for n in top["strip"].list() if (p := _regex(n)) is not None)
    if top is not None and "feeds" in top:
        seen: dict[str, int] = {}
        for node in top["feeds"].list():
            spec = _feed(node, common, substitutions or {})
            if spec is None:
                continue
            if spec.url in seen:
                node.error(f"feed {spec.url} is already listed at line {seen[spec.url]}")
                continue
            seen[spec.url] = node.line
            feeds.append(spec)
    doc.raise_if_any()
    return feeds


def _regex(node: Node) -> re.Pattern[str] | None:
    s = node.str()
    if s is None:
        return None
    try:
        return re.compile(s, re.S)
    except re.error as exc:
        node.error(f"bad regular expression {s!r}: {exc}")
        return None


def _feed(node: Node, common: tuple[re.Pattern[str], ...], subst: dict[str, str]) -> FeedSpec | None:
    f = node.fields(_FEED_KEYS, {"url", "source"})
    if f is None or "url" not in f or "source" not in f:
        return None
    before = len(node.doc.issues)
    url = f["url"].str()
    if url is not None:
        try:
            url = url.format(**subst) if "{" in url else url
        except KeyError as exc:
            f["url"].error(f"unknown placeholder {{{exc.args[0]}}} in URL")
            url = None
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            f["url"].error(f"'{url}' is not an http(s) URL")
    kw: dict[str, object] = {}
    source = f["source"].str()
    if "lang" in f:
        kw["lang"] = f["lang"].choice(LANGS)
    if "enabled" in f:
        kw["enabled"] = f["enabled"].bool()
    if "labels" in f:
        labels = {}
        for k, v in f["labels"].items():
            if (s := v.str()) is not None:
                labels[k] = s
        kw["labels"] = labels
    if "interval" in f and (iv := f["interval"].fields({"min", "max"})) is not None:
        lo = iv["min"].duration() if "min" in iv else 120.0
        hi = iv["max"].duration() if "max" in iv else max(lo or 0, 1800.0)
        if lo is not None and hi is not None:
            if lo < 10:
                iv["min"].error("the minimum interval is 10s (be polite to publishers)")
            elif hi < lo:
                f["interval"].error(f"max ({hi:.0f}s) is below min ({lo:.0f}s)")
            kw["min_interval_s"], kw["max_interval_s"] = lo, hi
    strip = [p for n in (f["strip"].list() if "strip" in f else []) if (p := _regex(n)) is not None]
    if len(node.doc.issues) > before or url is None or source is None:
        return None
    return FeedSpec(url=url, source=source, strip=(*common, *strip), file=node.doc.file,
                    line=node.line, **kw)  # type: ignore[arg-type]


__all__ = ["FeedSpec", "SpecError", "SpecIssue", "load_feeds"]
