"""The rule file's model: what an operator wrote, validated, before compilation."""

from __future__ import annotations

from dataclasses import dataclass, field

RULE_TYPES = {"match", "coverage", "frequency", "spike", "new_term", "flatline"}
AGGREGATE_TYPES = frozenset({"frequency", "spike", "new_term", "flatline"})  # decided over many items
GROUP_BY = {"none", "topic", "source", "lang", "feed"}
NEW_TERM_FIELDS = {"term", "topic", "source", "name"}
SPIKE_TYPES = {"up", "down", "both"}
SEVERITIES = {"info", "warning", "critical"}
RECEIVER_TYPES = {"console", "slack", "slack-app", "webhook"}
SLACK_API_URL = "https://slack.com/api/"
KEYS = {"story", "item"}


@dataclass(frozen=True, slots=True)
class ReceiverSpec:
    """Where alerts go. URLs and secrets are named by environment variable, never written here."""

    name: str
    type: str
    url_env: str | None = None
    secret_env: str | None = None
    # slack-app: the bot token's variable, the channel (id or name), the Web API base URL
    token_env: str | None = None
    channel: str = ""
    api_url: str = SLACK_API_URL
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
    # frequency, spike, new_term, flatline (alerts/windows.py)
    window_s: float = 3600.0
    threshold: int = 1
    group_by: str = "none"
    spike_height: float = 3.0
    spike_type: str = "up"
    min_current: int = 3
    min_baseline: int = 3
    baseline_s: float = 3600.0
    field: str = "term"
    warmup_s: float = 3600.0
    # digests (Alertmanager's timing): alerts of one rule and group are sent together
    group_wait_s: float | None = None
    group_interval_s: float = 300.0
    repeat_interval_s: float = 4 * 3600.0
    file: str = ""
    line: int = 0

    @property
    def aggregate(self) -> bool:
        return self.type in AGGREGATE_TYPES

    @property
    def digest(self) -> bool:
        return self.group_wait_s is not None


@dataclass(frozen=True, slots=True)
class RuleSetSpec:
    rules: tuple[RuleSpec, ...]
    receivers: dict[str, ReceiverSpec] = field(default_factory=dict)
    version: str = ""
