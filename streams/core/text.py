"""Text normalisation shared by tagging and dedupe: pure, no I/O.

`normalize` folds what should not distinguish two words (Unicode compatibility forms, case, ё/е,
apostrophe and dash variants) and keeps, for every output character, the index of the input
character it came from, so a match in normalised text maps back to a span in the original.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# The languages warwire reads: feeds, taxonomy terms and rules name them by these codes.
LANGUAGES = ("de", "en", "fr", "ru", "uk")

_APOSTROPHES = "\u2019\u2018\u02bc\u02b9\u0060\u00b4\u2032"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"


def _latin_base_letters() -> dict[int, str]:
    """é→e, ü→u, ç→c …: Latin letters with diacritics to their base letter. Cyrillic й, ї stay."""
    table: dict[int, str] = {}
    for cp in range(0x00C0, 0x0250):
        base = unicodedata.normalize("NFD", chr(cp))[0].lower()
        if base.isascii() and base.isalpha() and len(chr(cp).casefold()) == 1:
            table[cp] = base
    return table


# Every mapping is one character to one character, so folding keeps offsets.
_FOLD = (
    _latin_base_letters()
    | {ord(c): "'" for c in _APOSTROPHES}
    | {ord(c): "-" for c in _DASHES}
    | {ord("ё"): "е", ord("Ё"): "е", ord("ß"): "ss"}
)
_FOLDABLE = re.compile("[" + "".join(chr(k) for k in _FOLD) + "]")
_FOLD_STR = {chr(k): v for k, v in _FOLD.items()}


def _fold_chars(text: str) -> str:
    # str.translate looks up every character in a dict; feed text has few foldable characters,
    # so replacing only those is several times faster.
    return _FOLDABLE.sub(lambda m: _FOLD_STR[m.group()], text)


_EXPANDING = re.compile("[" + "".join(chr(k) for k, v in _FOLD.items() if len(v) > 1) + "]")

# A word: letters and digits. Apostrophes split words (l'OTAN → l, otan) in terms and text alike.
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalised text plus, per character, the index of the source character it came from
    (`origin` is None when every character maps to the character at the same index)."""

    text: str
    origin: tuple[int, ...] | None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of the normalised text back to the source text."""
        if self.origin is None:
            return (start, end)
        if start >= end:
            return (self.origin[start] if start < len(self.origin) else start, start)
        return (self.origin[start], self.origin[end - 1] + 1)


def fold(text: str) -> str:
    """Normalise without keeping offsets (for keys, fingerprints and taxonomy terms)."""
    return _fold_chars(unicodedata.normalize("NFKC", visible(text)).casefold())


def normalize(text: str) -> Normalized:
    """Normalise `text` for matching and remember where each output character came from.
    Invisible characters (`visible`) are dropped first: Luft\u00adverteidigung is one word."""
    if INVISIBLE.search(text) is None:
        return _normalize(text)
    kept: list[int] = []
    pos = 0
    for m in INVISIBLE.finditer(text):
        kept.extend(range(pos, m.start()))
        pos = m.end()
    kept.extend(range(pos, len(text)))
    inner = _normalize("".join(text[i] for i in kept))
    origin = range(len(inner.text)) if inner.origin is None else inner.origin
    return Normalized(inner.text, tuple(kept[i] for i in origin))


def _normalize(text: str) -> Normalized:
    if unicodedata.is_normalized("NFKC", text):
        # The common case: already composed. lower() keeps lengths for our scripts; the fold table
        # maps one character to one, except ß → ss, whose offsets are rebuilt cheaply below.
        low = text.lower()
        if len(low) == len(text):
            folded = _fold_chars(low)
            if len(folded) == len(text):
                return Normalized(folded, None)
            origin: list[int] = []
            prev = 0
            for m in _EXPANDING.finditer(low):
                i = m.start()
                origin.extend(range(prev, i + 1))
                origin.extend([i] * (len(_FOLD[ord(low[i])]) - 1))
                prev = i + 1
            origin.extend(range(prev, len(low)))
            return Normalized(folded, tuple(origin))
    out: list[str] = []
    origin = []
    for i, ch in enumerate(text):
        piece = _fold_chars(unicodedata.normalize("NFKC", ch).casefold())
        out.append(piece)
        origin.extend([i] * len(piece))
    # Combining marks that NFKC would compose with the previous character are rare in feed text;
    # per-character normalisation keeps offsets exact at the cost of leaving them uncomposed.
    return Normalized("".join(out), tuple(origin))


def words(text: str) -> list[tuple[int, int]]:
    """[start, end) spans of the words of an already normalised text."""
    return [m.span() for m in _WORD.finditer(text)]


def tokens(text: str) -> list[str]:
    """The words of an already normalised text."""
    return _WORD.findall(text)


_WS = re.compile(r"\s+")


def squash_ws(text: str) -> str:
    """Fold every run of white space into one space and strip the ends."""
    return _WS.sub(" ", text).strip()


def _invisible_class() -> str:
    """A character class of what never belongs in feed text: control characters (but tab and line
    breaks, which are white space), format characters (soft hyphen, zero-width characters, bidi
    controls, the byte-order mark, tag characters) and lone surrogates."""
    ranges: list[str] = []
    start = prev = -2
    for cp in range(0x10000):
        if unicodedata.category(chr(cp)) in ("Cc", "Cf", "Cs") and chr(cp) not in "\t\n\r":
            if cp != prev + 1:
                if start >= 0:
                    ranges.append(_range(start, prev))
                start = cp
            prev = cp
    ranges.append(_range(start, prev))
    # Format characters beyond the BMP (Unicode 15): Kaithi, Egyptian hieroglyph and shorthand
    # format controls, musical symbol formatting, tag characters.
    ranges += [_range(0x110BD, 0x110BD), _range(0x110CD, 0x110CD), _range(0x13430, 0x1343F),
               _range(0x1BCA0, 0x1BCA3), _range(0x1D173, 0x1D17A), _range(0xE0001, 0xE007F)]
    return "[" + "".join(ranges) + "]"


def _range(a: int, b: int) -> str:
    return f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}"


# ANSI/VT escape sequences first (CSI … final byte, OSC … BEL or ST, two-byte escapes): removing
# only the ESC would leave "[31m" in the text.
_ANSI = r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]{0,4096}(?:\x07|\x1b\\)?|\x1b[@-_]|\x9b[0-?]*[ -/]*[@-~]"
INVISIBLE = re.compile(f"{_ANSI}|{_invisible_class()}")


def visible(text: str) -> str:
    """`text` without escape sequences, control and format characters and lone surrogates (tab
    and line breaks stay). Linear in the length of the text."""
    return INVISIBLE.sub("", text)


# A channel's call to action (subscribe, follow us, more videos), in the five languages: the
# sentence that carries it, and what follows it in the same sentence (a video description's
# channel list: "Abonniere den WELT YouTube Channel WELT DOKU Channel …"), is the channel's.
_CTA = re.compile(r"\b(?:subscribe|abonnier\w*|abonnez|abonne-toi|follow us|folgt uns|folgen sie uns|suivez-nous"
                  r"|more videos|mehr videos|plus de vidéos|watch more|подписывайтесь|подпишитесь|підписуйтеся"
                  r"|підписуйтесь|підпишіться)\b", re.IGNORECASE)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")


def calls_to_action(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each sentence of `text` that carries a channel's call to action."""
    if _CTA.search(text) is None:
        return []
    out, at = [], 0
    for brk in [*_SENTENCE_BREAK.finditer(text), None]:
        end = brk.start() if brk else len(text)
        if _CTA.search(text, at, end):
            out.append((at, end))
        at = brk.end() if brk else end
    return out
