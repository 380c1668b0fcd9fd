"""The rule file's model: what an operator wrote, validated, before compilation."""

from __future__ import annotations

from dataclasses import dataclass, field

RULE_TYPES = {"match", "coverage"}
SEVERITIES = {"info", "warning", "critical"}
RECEIVER_TYPES = {"console", "slack", "webhook"}
KEYS = {"story", "item"}


@dataclass(frozen=True, slots=True)
class ReceiverSpec:
    """Where alerts go. URLs and secrets are named by environment variable, never written here."""

    name: str
    type: str
    url_env: str | None = None
    secret_env: str | None = None
    file: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class RuleSpec:
    name: str
    type: str
    severity: str = "warning"
    topics_any: tuple[str, ...] = ()
    topics_all: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    query: str = ""
    min_outlets: int = 1
    realert_s: float = 86400.0
    key: str = "story"
    receivers: tuple[str, ...] = ()
    description: str = ""
    file: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class RuleSetSpec:
    rules: tuple[RuleSpec, ...]
    receivers: dict[str, ReceiverSpec] = field(default_factory=dict)
    version: str = ""
