"""Alert payloads for each receiver type: console text, Slack Block Kit, generic JSON. Pure."""

from __future__ import annotations

from typing import Any

from streams.schema import Alert, to_builtins

WEBHOOK_SCHEMA = "warwire.alert/v1"
_SEVERITY_ICON = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}


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
    if alert.url and not alert.digest:
        lines.append(f"  link:   {alert.url}")
    return "\n".join(lines)


def _mrkdwn_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _highlight(text: str, spans: list[tuple[int, int]]) -> str:
    """Bold the matched spans (Slack mrkdwn), escaping everything else."""
    out, pos = [], 0
    for s, e in sorted(set(spans)):
        if s < pos:
            continue
        out.append(_mrkdwn_escape(text[pos:s]))
        out.append(f"*{_mrkdwn_escape(text[s:e])}*")
        pos = e
    out.append(_mrkdwn_escape(text[pos:]))
    return "".join(out)


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook message with Block Kit blocks and a plain-text fallback."""
    title = _mrkdwn_escape(alert.title)
    headline = f"<{alert.url}|{title}>" if alert.url else title
    icon = _SEVERITY_ICON.get(alert.severity, "")
    summary_spans = [(m.start, m.end) for m in alert.matches if m.field == "summary"]
    excerpt = _highlight(alert.summary[:280], [s for s in summary_spans if s[1] <= 280])
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} *{headline}*"}},
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"*{alert.severity}* · rule `{alert.rule}`"},
            {"type": "mrkdwn", "text": f"{_mrkdwn_escape(alert.source)} · {alert.outlets} outlet(s)"},
            {"type": "mrkdwn", "text": "topics: " + (", ".join(alert.topics) or "-")},
        ]},
    ]
    if alert.reason:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn_escape(alert.reason)}]})
    if alert.digest:
        rows = [(f"• <{e.url}|{_mrkdwn_escape(e.title)}>" if e.url else f"• {_mrkdwn_escape(e.title)}")
                + (f" · {_mrkdwn_escape(e.source)}" if e.source else "") for e in alert.digest[:15]]
        if len(alert.digest) > 15:
            rows.append(f"… and {len(alert.digest) - 15} more")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(rows)[:2900]}})
    elif excerpt:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": excerpt}})
    terms = sorted({m.term for m in alert.matches})
    if terms:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": "matched: " + ", ".join(f"`{_mrkdwn_escape(t)}`" for t in terms)}]})
    return {"text": f"[{alert.severity}] {alert.title}", "blocks": blocks}


def webhook_payload(alert: Alert) -> dict[str, Any]:
    """The generic JSON webhook body (documented in docs/webhook.md)."""
    return {"schema": WEBHOOK_SCHEMA, "alert": to_builtins(alert)}
