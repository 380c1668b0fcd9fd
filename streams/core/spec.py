"""Strict loading of operator-edited YAML (feeds, topics, rules), with every error placed.

An error reads `file:line: path: message`, for example
`rules/alerts.yaml:14: rules[2]: unknown key 'keywrds'`. Loading collects every error of a file
before raising, so an operator fixes them in one pass. Duplicate keys are errors (PyYAML would
silently keep the last one). Nothing here does I/O except `load_yaml`, which reads one file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError


@dataclass(frozen=True, slots=True)
class SpecIssue:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}: {where}{self.message}"


class SpecError(Exception):
    """One or more errors in an operator-edited file; `issues` holds all of them, in file order."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.line))
        super().__init__("\n".join(str(i) for i in self.issues))


@dataclass
class Doc:
    """Errors found so far in one file."""

    file: str
    issues: list[SpecIssue] = field(default_factory=list)

    def error(self, line: int, path: str, message: str) -> None:
        self.issues.append(SpecIssue(self.file, line, path, message))

    def raise_if_any(self) -> None:
        if self.issues:
            raise SpecError(self.issues)


MAX_DEPTH = 64
MAX_NODES = 100_000


def load_yaml(path: str | Path) -> tuple[Doc, Node]:
    """Read a YAML file into a `Node`; a syntax error raises SpecError (see `parse_yaml`)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise SpecError([SpecIssue(str(p), 0, "", f"cannot read file: {exc.strerror}")]) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError([SpecIssue(str(p), line, "", f"not UTF-8: byte 0x{data[exc.start]:02x} at column {column} "
                                                     f"({exc.reason}); save the file as UTF-8")]) from exc
    return parse_yaml(text, str(p))


def parse_yaml(text: str, file: str) -> tuple[Doc, Node]:
    """Parse YAML text (named `file` in errors) into a `Node`.

    Before anything is built, the event stream is checked (`_prescan`): nesting deeper than
    `MAX_DEPTH` or aliases expanding to more than `MAX_NODES` values (an alias bomb) raise
    SpecError at once; duplicate keys are recorded as errors and loading goes on, so the file's
    other errors are reported with them."""
    doc = Doc(file)
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = True  # reported by _prescan, with every other error
    try:
        _prescan(yaml, text, doc)
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise SpecError([SpecIssue(file, line, "", f"YAML syntax: {exc.problem}")]) from exc
    except RecursionError as exc:
        raise SpecError([SpecIssue(file, 0, "", f"nested deeper than {MAX_DEPTH} levels")]) from exc
    return doc, Node(doc, data, "", 1)


@dataclass
class _Frame:
    anchor: str | None
    line: int
    mapping: bool
    size: int = 1
    keys: dict[str, int] = field(default_factory=dict)
    at_key: bool = True


def _prescan(yaml: YAML, text: str, doc: Doc) -> None:
    """Walk the parser's events (no node is built): depth, alias expansion, duplicate keys."""
    sizes: dict[str, int] = {}
    stack: list[_Frame] = []

    def fatal(line: int, message: str) -> SpecError:
        return SpecError([*doc.issues, SpecIssue(doc.file, line, "", message)])

    def add(size: int, key: str | None, line: int) -> None:
        if not stack:
            return
        parent = stack[-1]
        parent.size += size
        if parent.size > MAX_NODES:
            raise fatal(line, f"the document expands to more than {MAX_NODES:,} values (aliases of aliases?)")
        if parent.mapping:
            if parent.at_key and key is not None and key != "<<":
                if key in parent.keys:
                    doc.error(line, "", f"duplicate key '{key[:80]}' (first at line {parent.keys[key]})")
                else:
                    parent.keys[key] = line
            parent.at_key = not parent.at_key

    for event in yaml.parse(text):
        line = event.start_mark.line + 1 if event.start_mark else 0
        kind = type(event).__name__
        if kind == "ScalarEvent":
            if event.anchor:
                sizes[event.anchor] = 1
            add(1, event.value, line)
        elif kind == "AliasEvent":
            size = sizes.get(event.anchor, 1)
            if size > MAX_NODES:
                raise fatal(line, f"alias *{event.anchor} expands to more than {MAX_NODES:,} values")
            add(size, None, line)
        elif kind in ("MappingStartEvent", "SequenceStartEvent"):
            stack.append(_Frame(event.anchor, line, kind == "MappingStartEvent"))
            if len(stack) > MAX_DEPTH:
                raise fatal(line, f"nested deeper than {MAX_DEPTH} levels")
        elif kind in ("MappingEndEvent", "SequenceEndEvent"):
            frame = stack.pop()
            if frame.anchor:
                sizes[frame.anchor] = frame.size
            add(frame.size, None, frame.line)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float | None:
    """'90s', '5m', '2h', '7d' → seconds; None when it is not a duration."""
    m = _DURATION.match(text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


class Node:
    """A YAML value with its place; typed accessors report errors into the Doc and return None."""

    __slots__ = ("doc", "value", "path", "line")

    def __init__(self, doc: Doc, value: Any, path: str, line: int) -> None:
        self.doc, self.value, self.path, self.line = doc, value, path, line

    def error(self, message: str) -> None:
        self.doc.error(self.line, self.path, message)

    def _child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else str(key)

    def fields(self, allowed: set[str], required: set[str] = frozenset()) -> dict[str, Node] | None:  # type: ignore[assignment]
        """The mapping's entries; unknown keys and missing required keys are errors."""
        if not isinstance(self.value, CommentedMap):
            self.error(f"expected a mapping, got {_kind(self.value)}")
            return None
        out: dict[str, Node] = {}
        for k, v in self.value.items():
            line = _key_line(self.value, k, self.line)
            if not isinstance(k, str):
                self.doc.error(line, self.path, f"keys must be strings, got {_kind(k)}")
                continue
            if k.startswith("x-"):
                continue  # extension keys: a place for YAML anchors (`x-base: &base …`, then `<<: *base`)
            if k not in allowed:
                hint = _closest(k, allowed)
                self.doc.error(line, self.path or k,
                               f"unknown key '{k}'" + (f" (did you mean '{hint}'?)" if hint else ""))
                continue
            out[k] = Node(self.doc, v, self._child_path(k), line)
        for k in sorted(required - out.keys()):
            self.error(f"missing required key '{k}'")
        return out

    def items(self) -> Iterator[tuple[str, Node]]:
        """Entries of a mapping whose keys are names chosen by the operator."""
        if not isinstance(self.value, CommentedMap):
            self.error(f"expected a mapping, got {_kind(self.value)}")
            return
        for k, v in self.value.items():
            yield str(k), Node(self.doc, v, self._child_path(str(k)), _key_line(self.value, k, self.line))

    def list(self) -> list[Node]:
        if not isinstance(self.value, CommentedSeq):
            self.error(f"expected a list, got {_kind(self.value)}")
            return []
        return [
            Node(self.doc, v, self._child_path(i), self.value.lc.item(i)[0] + 1)
            for i, v in enumerate(self.value)
        ]

    def str(self, pattern: re.Pattern[str] | None = None, what: str = "") -> str | None:
        if not isinstance(self.value, str) or not self.value.strip():
            self.error(f"expected a non-empty string, got {_kind(self.value)}")
            return None
        if pattern is not None and not pattern.fullmatch(self.value):
            self.error(f"{_kind(self.value)} is not {what or 'valid'}")
            return None
        return str(self.value)

    def strings(self) -> list[str]:
        """A string or a list of strings."""
        if isinstance(self.value, str):
            return [self.value]
        return [s for n in self.list() if (s := n.str()) is not None]

    def number(self, lo: float | None = None, hi: float | None = None) -> float | None:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            self.error(f"expected a number, got {_kind(v)}")
            return None
        if not math.isfinite(v):
            self.error(f"expected a finite number, got {v}")
            return None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            self.error(f"{v} is out of range [{lo}, {hi}]")
            return None
        return float(v)

    def int(self, lo: int | None = None, hi: int | None = None) -> int | None:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self.error(f"expected a whole number, got {_kind(self.value)}")
            return None
        n = self.number(lo, hi)
        return None if n is None else int(n)

    def bool(self) -> bool | None:
        if not isinstance(self.value, bool):
            self.error(f"expected true or false, got {_kind(self.value)}")
            return None
        return bool(self.value)

    def duration(self, positive: bool = False) -> float | None:
        """A duration such as '90s', '15m', '2h', '7d', in seconds (`positive`: more than 0)."""
        if isinstance(self.value, str) and (s := parse_duration(self.value)) is not None:
            if positive and s <= 0:
                self.error(f"expected a duration above 0, got {self.value[:20]!r}")
                return None
            return s
        got = repr(self.value[:60]) if isinstance(self.value, str) else _kind(self.value)
        self.error(f"expected a duration such as '90s', '15m', '2h' or '7d', got {got}")
        return None

    def choice(self, options: set[str]) -> str | None:
        s = self.str()
        if s is not None and s not in options:
            self.error(f"'{s[:60]}' is not one of {', '.join(sorted(options))}")
            return None
        return s


def _key_line(mapping: CommentedMap, key: Any, default: int) -> int:
    """The line of `key` in `mapping`; a key merged in from an alias (`<<: *base`) has no line
    of its own, and gets the mapping's."""
    try:
        return int(mapping.lc.key(key)[0]) + 1
    except (KeyError, TypeError):
        return default


def _kind(v: Any) -> str:
    """What a value is, for an error message: by type, a scalar shown cut to 60 characters (a
    value is never expanded or printed whole)."""
    if v is None:
        return "nothing"
    if isinstance(v, CommentedMap):
        return "a mapping"
    if isinstance(v, CommentedSeq):
        return "a list"
    if isinstance(v, dict | list | tuple | set):
        return f"a {type(v).__name__}"
    text = repr(v) if isinstance(v, str | int | float | bool) else f"<{type(v).__name__}>"
    return f"{type(v).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"


def _closest(word: str, options: set[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.75)
    return found[0] if found else None
