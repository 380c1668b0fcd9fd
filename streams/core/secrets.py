"""Secrets (webhook URLs, signing keys): strings that never show themselves."""

from __future__ import annotations


class Secret(str):
    """A string that prints as `<secret>` in logs, reprs and tracebacks; `reveal()` to use it."""

    def __repr__(self) -> str:
        return "<secret>"

    def __str__(self) -> str:
        return "<secret>"

    def reveal(self) -> str:
        return str.__str__(self)


def redact(value: object) -> object:
    """The value with any Secret inside (also in lists, tuples and dicts) replaced by `<secret>`."""
    if isinstance(value, Secret):
        return "<secret>"
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    return value
