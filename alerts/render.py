"""Alert payloads for each receiver type: console text, Slack Block Kit, generic JSON. Pure."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from streams.schema import Alert, to_builtins

WEBHOOK_SCHEMA = "warwire.alert/v1"
_SEVERITY_ICON = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}


SECTION_MAX = 3000   # Block Kit: a section's or a context element's text
TITLE_MAX = 300      # a headline stays a headline; with a 2,000-character URL it still fits a section
FIELD_MAX = 500      # source, topics, terms, reason: raw characters (escaping can grow them fivefold)
URL_MAX = 2000
# What may stand in a link's URL as it is: RFC 3986's reserved and unreserved characters and `%`,
# less `|` (it ends the URL in `<url|label>`) and `<` `>` (they end the link). Everything else,
# spaces, quotes and control characters included, is percent-encoded.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


def console_text(alert: Alert) -> str:
    """A few readable lines for a terminal."""
    topics = ", ".join(alert.topics) or "-"
    terms = ", ".join(sorted({m.term for m in alert.matches})) or "-"
    outlets = f"{alert.outlets} outlet{'s' if alert.outlets != 1 else ''}"
    lines = [
        f"ALERT [{alert.severity.upper()}] {alert.rule}: {alert.title}",
        f"  source: {alert.source or '-'} ({outlets}: {', '.join(alert.sources) or '-'})",
        f"  topics: {topics}",
        f"  terms:  {terms}",
    ]
    if alert.reason:
        lines.append(f"  why:    {alert.reason}")
    for e in alert.digest[:20]:
        lines.append(f"  - {e.title} ({e.source or '-'}) {e.url}".rstrip())
    unlisted = max(alert.digest_total, len(alert.digest)) - min(20, len(alert.digest))
    if alert.digest and unlisted > 0:
        lines.append(f"  … and {unlisted} more")
    if alert.url and not alert.digest:
        lines.append(f"  link:   {alert.url}")
    return "\n".join(lines)


def _esc(text: str, limit: int = FIELD_MAX) -> str:
    """A feed-derived field clipped, then escaped."""
    return mrkdwn_escape(_clip(text, limit))


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters as entities: feed text can then neither open a link
    (`<url|…>`) nor a mention (`<!channel>`, `<@U…>`), whatever it carried (`&lt;!here&gt;` was
    decoded to `<!here>` by the feed parser long before this)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")




def safe_link_url(url: str) -> str | None:
    """The URL as a Slack link may carry it, or None when it must not be a link at all: only
    absolute http(s) URLs with a host (no `javascript:`, `data:`, `file:`, `slack:` or relative
    links), with `|`, `<`, `>` and anything outside RFC 3986 percent-encoded, `&` as an entity."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or len(url) > URL_MAX:
        return None
    return quote(url.strip(), safe=_URL_SAFE).replace("&", "&amp;")


def _link(url: str, label: str) -> str:
    """`<url|label>` for a safe URL, else the label alone; the label is escaped here."""
    safe = safe_link_url(url) if url else None
    return f"<{safe}|{mrkdwn_escape(label)}>" if safe else mrkdwn_escape(label)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _lines_within(rows: list[str], limit: int, unlisted: int = 0) -> str:
    """As many whole rows as fit in `limit` characters, then "… and N more": a digest is cut at a
    line boundary (never inside a link or an entity) and says how much it left out, counting the
    `unlisted` entries it never had (older alerts beyond the digest's listed ones)."""
    kept: list[str] = []
    size = 0
    for i, row in enumerate(rows):
        left = len(rows) - i - 1 + unlisted
        more = f"… and {left} more" if left else ""
        if size + len(row) + 1 + len(more) > limit:
            kept.append(f"… and {len(rows) - i + unlisted} more")
            return "\n".join(kept)
        kept.append(row)
        size += len(row) + 1
    if unlisted:
        kept.append(f"… and {unlisted} more")
    return "\n".join(kept)


def _mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object that Slack takes as written: `verbatim` stops it from turning plain
    text into links, channel names or mentions (a title saying "@channel" stays text)."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _highlight(text: str, spans: list[tuple[int, int]]) -> str:
    """Bold the matched spans (Slack mrkdwn), escaping everything else."""
    out, pos = [], 0
    for s, e in sorted(set(spans)):
        if s < pos:
            continue
        out.append(mrkdwn_escape(text[pos:s]))
        out.append(f"*{mrkdwn_escape(text[s:e])}*")
        pos = e
    out.append(mrkdwn_escape(text[pos:]))
    return "".join(out)


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook message with Block Kit blocks and a plain-text fallback."""
    headline = _link(alert.url, _clip(alert.title, TITLE_MAX))
    icon = _SEVERITY_ICON.get(alert.severity, "")
    summary_spans = [(m.start, m.end) for m in alert.matches if m.field == "summary"]
    excerpt = _highlight(alert.summary[:280], [s for s in summary_spans if s[1] <= 280])
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": _mrkdwn(f"{icon} *{headline}*")},
        {"type": "context", "elements": [
            _mrkdwn(f"*{_esc(alert.severity)}* · rule `{_esc(alert.rule)}`"),
            _mrkdwn(f"{_esc(alert.source) or '-'} · {alert.outlets} outlet(s)"),
            _mrkdwn("topics: " + (_esc(", ".join(alert.topics)) or "-")),
        ]},
    ]
    if alert.reason:
        blocks.append({"type": "context", "elements": [_mrkdwn(_esc(alert.reason))]})
    if alert.digest:
        rows = [f"• {_link(e.url, _clip(e.title, TITLE_MAX))}" + (f" · {_esc(e.source, 100)}" if e.source else "")
                for e in alert.digest]
        blocks.append({"type": "section", "text": _mrkdwn(_lines_within(rows, SECTION_MAX,
                                                                        max(0, alert.digest_total - len(rows))))})
    elif excerpt:
        blocks.append({"type": "section", "text": _mrkdwn(excerpt)})
    terms = sorted({m.term for m in alert.matches})
    if terms:
        blocks.append({"type": "context", "elements": [
            _mrkdwn("matched: " + _esc(", ".join(f"`{t}`" for t in terms)))]})
    return {"text": _esc(f"[{alert.severity}] {alert.title}", TITLE_MAX), "blocks": blocks}


def webhook_payload(alert: Alert) -> dict[str, Any]:
    """The generic JSON webhook body (documented in docs/webhook.md)."""
    return {"schema": WEBHOOK_SCHEMA, "alert": to_builtins(alert)}
