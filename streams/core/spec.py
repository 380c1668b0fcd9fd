"""Strict loading of operator-edited YAML (feeds, topics, rules), with every error placed.

An error reads `file:line: path: message`, for example
`rules/alerts.yaml:14: rules[2]: unknown key 'keywrds'`. Loading collects every error of a file
before raising, so an operator fixes them in one pass. Duplicate keys are errors (PyYAML would
silently keep the last one). Nothing here does I/O except `load_yaml`, which reads one file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
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


def load_yaml(path: str | Path) -> tuple[Doc, Node]:
    """Read a YAML file into a `Node`; a syntax error or duplicate key raises SpecError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([SpecIssue(str(p), 0, "", f"cannot read file: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise SpecError([SpecIssue(str(p), 0, "", f"not UTF-8: {exc.reason}")]) from exc
    return parse_yaml(text, str(p))


def parse_yaml(text: str, file: str) -> tuple[Doc, Node]:
    """Parse YAML text (named `file` in errors) into a `Node`."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    doc = Doc(file)
    try:
        data = yaml.load(text)
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        key = re.search(r'found duplicate key "([^"]*)"', str(exc))
        what = f"duplicate key '{key.group(1)}'" if key else "duplicate key"
        raise SpecError([SpecIssue(file, line, "", what)]) from exc
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise SpecError([SpecIssue(file, line, "", f"YAML syntax: {exc.problem}")]) from exc
    return doc, Node(doc, data, "", 1)


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
            line = self.value.lc.key(k)[0] + 1
            if not isinstance(k, str):
                self.doc.error(line, self.path, f"keys must be strings, got {k!r}")
                continue
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
            line = self.value.lc.key(k)[0] + 1
            yield str(k), Node(self.doc, v, self._child_path(str(k)), line)

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
            self.error(f"'{self.value}' is not {what or 'valid'}")
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

    def duration(self) -> float | None:
        """A duration such as '90s', '15m', '2h', '7d', in seconds."""
        if isinstance(self.value, str) and (s := parse_duration(self.value)) is not None:
            return s
        self.error(f"expected a duration such as '90s', '15m', '2h' or '7d', got {self.value!r}")
        return None

    def choice(self, options: set[str]) -> str | None:
        s = self.str()
        if s is not None and s not in options:
            self.error(f"'{s}' is not one of {', '.join(sorted(options))}")
            return None
        return s


def _kind(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, CommentedMap):
        return "a mapping"
    if isinstance(v, CommentedSeq):
        return "a list"
    return f"{type(v).__name__} {v!r}"


def _closest(word: str, options: set[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.75)
    return found[0] if found else None
