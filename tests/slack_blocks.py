"""Slack message checks shared by the tests: every payload is validated with slack_sdk's own
Block Kit models, and the feed-derived text in it is checked for live mrkdwn control sequences."""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.models.blocks import Block

MAX_BLOCKS = 50
# A control sequence Slack acts on: a link `<url|label>` / `<url>`, a mention `<@U…>`, `<!here>`,
# `<!channel>`, `<!subteam^…>`, a channel `<#C…>`.
_CONTROL = re.compile(r"<([^<>]*)>")
_OUR_LINK = re.compile(r"^https?://[^\s|<>\"]+\|[^<>]*$")


def validate_message(payload: dict[str, Any]) -> list[Block]:
    """Each block parsed and validated by slack_sdk (lengths, element counts, required fields);
    the parsed block must say what the payload said (no field slack_sdk does not know)."""
    blocks = payload.get("blocks", [])
    assert 0 < len(blocks) <= MAX_BLOCKS, len(blocks)
    parsed = []
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()
        assert block.to_dict() == raw, (block.to_dict(), raw)
        parsed.append(block)
    assert isinstance(payload.get("text"), str) and payload["text"], "a fallback text is required"
    return parsed


def texts(payload: dict[str, Any]) -> list[str]:
    """Every string Slack renders: the fallback text and each text object's text."""
    out = [payload["text"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                out.append(node["text"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(payload.get("blocks", []))
    return out


def control_sequences(payload: dict[str, Any]) -> list[str]:
    """Every `<…>` sequence in the rendered text that is not one of warwire's own http(s) links
    (mentions, channel pings, foreign link syntax, javascript: links), and links in the fallback
    text, which warwire never writes."""
    found = []
    all_texts = texts(payload)
    for i, text in enumerate(all_texts):
        for m in _CONTROL.finditer(text):
            if i == 0 or not _OUR_LINK.match(m.group(1)):
                found.append(m.group(0))
    return found
