"""The keyword query language of rule conditions. Parsed once when rules load; pure.

    query  := or
    or     := and ("OR" and)*
    and    := not (["AND"] not)*            adjacent terms are ANDed
    not    := "NOT" not | atom
    atom   := "(" query ")" | term ["NEAR/" n near]
    near   := term | "(" term ("OR" term)* ")"
    term   := [field ":"] (word | word* | "a phrase")
    field  := title | summary               default: either

Words match whole words after the same normalisation as tagging (case, accents, ё/е, dashes);
`word*` matches words starting with `word`; a quoted phrase matches consecutive words.
`a NEAR/5 b` holds when a and b occur within 5 words of each other, in either order, in one field;
`a NEAR/5 (b OR c)` when b or c does. n is 1 to 100. Parentheses nest at most `MAX_DEPTH` deep.
A word such as `titel:x` (letters, then a colon) is an error: only title: and summary: are fields;
quote it ("titel:x") to search for it as text.

    query: 'Patriot NEAR/3 (battery OR system) AND NOT title:"New England"'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from streams.core.text import fold, tokens

FIELDS = ("title", "summary")
MAX_DEPTH = 32
MAX_NEAR = 100
_TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<near>NEAR/(?P<n>[^\s()]*))|(?P<op>AND|OR|NOT)(?=[\s()]|$)'
                    r'|(?:(?P<field>title|summary):)?(?:"(?P<phrase>[^"]*)"|(?P<word>[^\s()"]+)))')
_FIELD_LIKE = re.compile(r"^([^\W\d_]+):")


class QueryError(ValueError):
    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} at column {column}")
        self.column = column


Fields = dict[str, list[str]]  # field -> its normalised words
Predicate = Callable[[Fields], bool]


@dataclass(frozen=True, slots=True)
class _Term:
    field: str | None
    words: tuple[str, ...]
    prefix: bool

    def positions(self, fields: Fields) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for name in (self.field,) if self.field else FIELDS:
            toks = fields.get(name, [])
            n = len(self.words)
            hits = [i for i in range(len(toks) - n + 1) if self._at(toks, i)]
            if hits:
                out[name] = hits
        return out

    def _at(self, toks: list[str], i: int) -> bool:
        last = len(self.words) - 1
        for k, w in enumerate(self.words):
            t = toks[i + k]
            if not (t.startswith(w) if (self.prefix and k == last) else t == w):
                return False
        return True


def parse(text: str) -> Predicate:
    """Compile a query into a predicate over `item_fields(...)`; raise QueryError with the column."""
    toks: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise QueryError(f"unexpected {text[pos:].strip()[:1]!r}", pos + 1)
        col = m.start() + len(m.group(0)) - len(m.group(0).lstrip()) + 1
        if m.group("lp"):
            toks.append(("(", "", col))
        elif m.group("rp"):
            toks.append((")", "", col))
        elif m.group("near"):
            n = m.group("n")
            if not n.isdigit() or not 1 <= int(n) <= MAX_NEAR:
                raise QueryError(f"NEAR/ needs a distance of 1 to {MAX_NEAR} words, such as NEAR/5, got {m.group('near')[:20]!r}",
                                 col)
            toks.append(("NEAR", n, col))
        elif m.group("op"):
            toks.append((m.group("op"), "", col))
        else:
            raw = m.group("phrase") if m.group("phrase") is not None else m.group("word")
            unknown = _FIELD_LIKE.match(raw) if m.group("phrase") is None else None
            if unknown:
                raise QueryError(f"unknown field '{unknown.group(1)[:40]}' (fields: {', '.join(FIELDS)}; "
                                 "quote the word to search for it as text)", col)
            toks.append(("TERM", f"{m.group('field') or ''}\x00{raw}\x00{int(m.group('phrase') is not None)}", col))
        pos = m.end()
    if not toks:
        raise QueryError("empty query", 1)
    parser = _Parser(toks, len(text))
    pred = parser.or_()
    if parser.i < len(toks):
        kind, _, col = toks[parser.i]
        raise QueryError(f"unexpected {kind if kind != 'TERM' else 'term'}", col)
    return pred


class _Parser:
    def __init__(self, toks: list[tuple[str, str, int]], end: int) -> None:
        self.toks, self.i, self.end = toks, 0, end
        self.depth = 0

    def peek(self) -> str | None:
        return self.toks[self.i][0] if self.i < len(self.toks) else None

    def col(self) -> int:
        return self.toks[self.i][2] if self.i < len(self.toks) else self.end + 1

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while self.peek() == "OR":
            self.i += 1
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else (lambda f: any(p(f) for p in parts))

    def and_(self) -> Predicate:
        parts = [self.not_()]
        while self.peek() in ("AND", "NOT", "TERM", "("):
            if self.peek() == "AND":
                self.i += 1
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else (lambda f: all(p(f) for p in parts))

    def not_(self) -> Predicate:
        negate = False
        while self.peek() == "NOT":  # a loop, not recursion: NOT NOT … NOT x is x or its negation
            self.i += 1
            negate = not negate
        inner = self.atom()
        return (lambda f: not inner(f)) if negate else inner

    def atom(self) -> Predicate:
        kind = self.peek()
        if kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QueryError(f"parentheses nested more than {MAX_DEPTH} deep", self.col())
            self.i += 1
            inner = self.or_()
            if self.peek() != ")":
                raise QueryError("missing ')'", self.col())
            self.i += 1
            self.depth -= 1
            return inner
        if kind != "TERM":
            raise QueryError("expected a word, a phrase or '('" if kind is None else f"unexpected {kind}", self.col())
        left = self.term()
        if self.peek() == "NEAR":
            n = int(self.toks[self.i][1])
            self.i += 1
            right = self.near_operand()
            return lambda f: _near(left.positions(f), right, f, n)
        return lambda f: bool(left.positions(f))

    def near_operand(self) -> tuple[_Term, ...]:
        """A term, or "(" term OR term … ")": NEAR's right side."""
        if self.peek() == "TERM":
            return (self.term(),)
        if self.peek() == "(":
            self.i += 1
            terms = [self._near_term()]
            while self.peek() == "OR":
                self.i += 1
                terms.append(self._near_term())
            if self.peek() != ")":
                raise QueryError("NEAR/n (…) takes words or phrases joined by OR, then ')'", self.col())
            self.i += 1
            return tuple(terms)
        raise QueryError("NEAR/n needs a word or phrase on both sides", self.col())

    def _near_term(self) -> _Term:
        if self.peek() != "TERM":
            raise QueryError("NEAR/n (…) takes words or phrases joined by OR", self.col())
        return self.term()

    def term(self) -> _Term:
        _, value, col = self.toks[self.i]
        self.i += 1
        field, raw, phrase = value.split("\x00")
        prefix = not int(phrase) and raw.endswith("*")
        words = tuple(tokens(fold(raw.rstrip("*") if prefix else raw)))
        if not words:
            raise QueryError("a term needs at least one letter or digit", col)
        return _Term(field or None, words, prefix)


def _near(left: dict[str, list[int]], right: tuple[_Term, ...], fields: Fields, n: int) -> bool:
    if not left:
        return False
    for term in right:
        rpos = term.positions(fields)
        if any(abs(a - b) <= n for name, la in left.items() for a in la for b in rpos.get(name, ())):
            return True
    return False


def item_fields(title: str, summary: str) -> Fields:
    return {"title": tokens(fold(title)), "summary": tokens(fold(summary))}
