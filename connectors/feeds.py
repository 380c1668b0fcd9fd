"""The feed list (config/feeds.yaml): strict loading into FeedSpecs, every error placed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import re2

from streams.core.spec import Node, SpecError, SpecIssue, load_yaml
from streams.core.text import LANGUAGES


class Pattern(Protocol):
    """A compiled boilerplate pattern (RE2: linear time, whatever the pattern and the text)."""

    pattern: Any

    def sub(self, repl: str, string: str, count: int = 0) -> str: ...

LANGS = set(LANGUAGES)
_FEED_KEYS = {"url", "source", "lang", "interval", "labels", "enabled", "strip", "backlog_age"}
# An entry already this old when first seen is backlog (NewsItem.backlog): no per-item alert.
DEFAULT_BACKLOG_AGE_S = 48 * 3600.0


@dataclass(frozen=True, slots=True)
class FeedSpec:
    url: str
    source: str
    lang: str = ""
    min_interval_s: float = 120.0
    max_interval_s: float = 1800.0
    labels: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    strip: tuple[Pattern, ...] = ()
    backlog_age_s: float = DEFAULT_BACKLOG_AGE_S  # 0: no entry is backlog
    file: str = ""
    line: int = 0


def load_feeds(path: str | Path, substitutions: dict[str, str] | None = None) -> list[FeedSpec]:
    """Load a feed list. `{name}` in URLs is replaced from `substitutions` (the demo server)."""
    doc, root = load_yaml(path)
    top = root.fields({"feeds", "strip", "backlog_age"}, {"feeds"})
    common: tuple[Pattern, ...] = ()
    feeds: list[FeedSpec] = []
    if top is not None and "strip" in top:
        common = tuple(p for n in top["strip"].list() if (p := _regex(n)) is not None)
    backlog_age = DEFAULT_BACKLOG_AGE_S
    if top is not None and "backlog_age" in top:
        backlog_age = top["backlog_age"].duration() or 0.0
    if top is not None and "feeds" in top:
        seen: dict[str, int] = {}
        for node in top["feeds"].list():
            spec = _feed(node, common, substitutions or {}, backlog_age)
            if spec is None:
                continue
            if spec.url in seen:
                node.error(f"feed {spec.url} is already listed at line {seen[spec.url]}")
                continue
            seen[spec.url] = node.line
            feeds.append(spec)
    doc.raise_if_any()
    return feeds


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.dot_nl = True
_RE2_OPTIONS.max_mem = 8 << 20
_RE2_OPTIONS.log_errors = False
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _regex(node: Node) -> Pattern | None:
    """An operator's boilerplate pattern, compiled with RE2: no pattern can backtrack
    catastrophically on feed text. Python-only syntax (lookaround, backreferences) is an error."""
    s = node.str()
    if s is None:
        return None
    try:
        re.compile(s)
    except re.error as exc:
        node.error(f"bad regular expression {s[:80]!r}: {exc}")
        return None
    try:
        return re2.compile(s, _RE2_OPTIONS)  # type: ignore[no-any-return]
    except re2.error as exc:
        node.error(f"regular expression {s[:80]!r} uses what RE2 cannot run in linear time "
                   f"(lookaround, backreferences, possessive repeats): {_text(exc)}")
        return None


def _substitute(url: str, subst: dict[str, str], node: Node) -> str | None:
    unknown = [m.group(1) for m in _PLACEHOLDER.finditer(url) if m.group(1) not in subst]
    if unknown:
        node.error(f"unknown placeholder {{{unknown[0][:40]}}} in URL (known: {', '.join(sorted(subst)) or 'none'})")
        return None
    out = _PLACEHOLDER.sub(lambda m: subst[m.group(1)], url)
    rest = _PLACEHOLDER.sub("", url)
    if "{" in rest or "}" in rest:
        node.error("a '{' or '}' without its pair in URL (placeholders are written {name}; "
                   "percent-encode a literal brace as %7B / %7D)")
        return None
    return out


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a feed's address, or None. Credentials in it are refused: a feed URL is
    logged, labelled on metrics and stored in feed state."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        return f"'{_redacted(url)}' is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"'{_redacted(url)}' is not an http(s) URL"
    if parts.username is not None or parts.password is not None:
        return (f"'{_redacted(url)}' carries credentials: feed URLs are logged and stored; "
                "use a feed that needs none, or a token in the query only if the publisher requires it")
    return None


def _redacted(url: str) -> str:
    """`url` with any user:password@ part replaced by ***@, cut to 200 characters."""
    return re.sub(r"(?<=//)[^/@\s]*@", "***@", url)[:200]


def _feed(node: Node, common: tuple[re.Pattern[str], ...], subst: dict[str, str],
          backlog_age: float = DEFAULT_BACKLOG_AGE_S) -> FeedSpec | None:
    f = node.fields(_FEED_KEYS, {"url", "source"})
    if f is None or "url" not in f or "source" not in f:
        return None
    before = len(node.doc.issues)
    url = f["url"].str()
    if url is not None:
        url = _substitute(url, subst, f["url"])
    if url is not None:
        problem = url_problem(url)
        if problem:
            f["url"].error(problem)
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
    kw["backlog_age_s"] = (f["backlog_age"].duration() or 0.0) if "backlog_age" in f else backlog_age
    if len(node.doc.issues) > before or url is None or source is None:
        return None
    return FeedSpec(url=url, source=source, strip=(*common, *strip), file=node.doc.file,
                    line=node.line, **kw)  # type: ignore[arg-type]


__all__ = ["FeedSpec", "SpecError", "SpecIssue", "load_feeds"]


def _text(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else exc
    return (arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg))[:120]
