"""Secrets (webhook URLs, signing keys): strings that never show themselves."""

from __future__ import annotations


class Secret:
    """A value that prints as `<secret>` in logs, reprs, tracebacks, string concatenation and
    JSON; `reveal()` to use it. Not a str: `"x" + secret` and `json.dumps(secret)` fail loudly
    instead of copying the value out."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "<secret>"

    def __str__(self) -> str:
        return "<secret>"

    def __format__(self, spec: str) -> str:
        return "<secret>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def reveal(self) -> str:
        return self._value


def redact(value: object) -> object:
    """The value with any Secret inside (also in lists, tuples and dicts) replaced by `<secret>`."""
    if isinstance(value, Secret):
        return "<secret>"
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    return value
