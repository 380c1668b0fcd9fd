"""Feed markup to plain text, with a real HTML parser (lexbor, through selectolax). Pure.

- The input is cut to `MAX_MARKUP` characters first: every later step is linear, and bounded.
- Script, style, template, noscript and embedded objects are dropped with their contents;
  comments never reach the text; entities are decoded once, by the parser.
- Markup that was escaped once more than it should be (`&amp;lt;script&amp;gt;` in a feed, which
  the feed parser and then the HTML parser each decode once) would come out as live markup in the
  text. The text is parsed again while it still looks like markup, up to `MAX_ROUNDS` times, and
  whatever tag-like text is left after that is removed: no order of escaping leaves markup.
- Block elements and line breaks become spaces, inline ones do not (Gefangenen<b>austausch</b>
  stays one word); invisible characters go (streams.core.text.visible); white space is folded.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

from streams.core.text import squash_ws, visible

MAX_MARKUP = 200_000
MAX_ROUNDS = 3
_DROPPED = ["script", "style", "template", "noscript", "iframe", "object", "embed", "svg", "math", "head"]
# Fixed-length patterns only: no scan that could run to the end of the input from every position.
_BLOCK = re.compile(r"<(?:/?(?:p|br|div|li|ul|ol|h[1-6]|tr|td|th|table|blockquote|section|article|hr|dd|dt|pre"
                    r"|figure|figcaption)\b)", re.I)
_MARKUP = re.compile(r"<[A-Za-z!/?]|&(?:[A-Za-z]{2,8}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
_TAG_LIKE = re.compile(r"<[A-Za-z!/?][^<>]{0,2000}>?")


def _once(markup: str) -> str:
    tree = LexborHTMLParser(_BLOCK.sub(lambda m: " " + m.group(), markup))
    tree.strip_tags(_DROPPED)
    root = tree.body if tree.body is not None else tree.root
    return root.text(deep=True, separator="") if root is not None else ""


def html_to_text(markup: str) -> str:
    """Plain text of a feed field that may hold HTML (module docstring)."""
    text = visible(markup[:MAX_MARKUP])
    if "<" not in text and "&" not in text:
        return squash_ws(text)
    for _ in range(MAX_ROUNDS):
        text = visible(_once(text))
        if _MARKUP.search(text) is None:
            return squash_ws(text)
    return squash_ws(_TAG_LIKE.sub("", text))
