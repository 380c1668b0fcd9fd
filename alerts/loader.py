"""Strict loading of rule files: every error, with file, line and path, or a valid RuleSetSpec.

Any number of files may be given (or directories, whose *.yaml files are read in name order).
Receivers and rules from all files form one set; rule names must be unique across files.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from alerts.model import (
    GROUP_BY,
    KEYS,
    NEW_TERM_FIELDS,
    RECEIVER_TYPES,
    RULE_TYPES,
    SEVERITIES,
    SLACK_API_URL,
    SPIKE_TYPES,
    ReceiverSpec,
    RuleSetSpec,
    RuleSpec,
)
from alerts.query import QueryError
from alerts.query import parse as parse_query
from streams.core.spec import Doc, Node, SpecError, SpecIssue, load_yaml
from streams.core.text import LANGUAGES

_RULE_KEYS = {
    "name", "type", "severity", "topics", "all_topics", "languages", "sources", "labels", "query", "min_outlets",
    "realert", "key", "receivers", "description", "window", "threshold", "group_by", "spike_height", "spike_type",
    "min_current", "min_baseline", "baseline", "field", "warmup", "group_wait", "group_interval", "repeat_interval",
}
# Keys that mean something for some rule types only: anything else is a mistake worth reporting.
_ONLY_FOR = {
    "window": {"frequency", "spike", "new_term", "flatline"}, "threshold": {"frequency", "flatline"},
    "group_by": {"frequency", "spike", "flatline"}, "spike_height": {"spike"}, "spike_type": {"spike"},
    "min_current": {"spike"}, "min_baseline": {"spike"}, "baseline": {"spike"}, "field": {"new_term"},
    "warmup": {"new_term"}, "min_outlets": {"coverage", "match", "frequency", "spike", "new_term", "flatline"},
    "key": {"match", "coverage"},
}
_REQUIRED = {"frequency": ("window", "threshold"), "spike": ("window",), "new_term": ("field",),
             "flatline": ("window",), "coverage": ("min_outlets",)}
_RECEIVER_KEYS = {"type", "url_env", "secret_env", "token_env", "channel", "api_url"}
# The console receiver always exists: alerts whose receivers are all unconfigured go there.
CONSOLE = ReceiverSpec(name="console", type="console")


def rule_files(paths: list[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml")) if p.is_dir() else [p])
    return out


def load_rules(paths: list[str | Path], known_topics: frozenset[str] | None = None) -> RuleSetSpec:
    """Load rule files; raise SpecError with every problem in every file."""
    issues: list[SpecIssue] = []
    rules: list[RuleSpec] = []
    receivers: dict[str, ReceiverSpec] = {"console": CONSOLE}
    refs: list[tuple[Node, str]] = []
    digest = hashlib.sha256()
    files = rule_files(paths)
    if not files:
        raise SpecError([SpecIssue(",".join(map(str, paths)), 0, "", "no rule files found")])
    for f in files:
        try:
            doc, root = load_yaml(f)
        except SpecError as exc:
            issues.extend(exc.issues)
            continue
        digest.update(f.read_bytes())
        top = root.fields({"receivers", "rules"})
        if top is None:
            issues.extend(doc.issues)
            continue
        if "receivers" in top:
            for name, node in top["receivers"].items():
                if (r := _receiver(name, node, doc)) is not None:
                    if name in receivers:
                        node.error(f"receiver '{name}' is defined twice")
                    receivers[name] = r
        if "rules" in top:
            for node in top["rules"].list():
                if (rule := _rule(node, doc, refs)) is not None:
                    rules.append(rule)
        issues.extend(doc.issues)
    seen: dict[str, RuleSpec] = {}
    for rule in rules:
        if rule.name in seen:
            first = seen[rule.name]
            issues.append(SpecIssue(rule.file, rule.line, "rules",
                                    f"rule name '{rule.name}' is already used at {first.file}:{first.line}"))
        seen[rule.name] = rule
    for node, name in refs:
        kind, _, value = name.partition(":")
        if kind == "receiver" and value not in receivers:
            node.doc.error(node.line, node.path, f"unknown receiver '{value}'")
            issues.append(node.doc.issues.pop())
        elif kind == "topic" and known_topics is not None and value not in known_topics:
            node.doc.error(node.line, node.path,
                           f"unknown topic '{value}' (known: {', '.join(sorted(known_topics))})")
            issues.append(node.doc.issues.pop())
    if issues:
        raise SpecError(issues)
    return RuleSetSpec(rules=tuple(rules), receivers=receivers, version=digest.hexdigest()[:12])


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _env_name(node: Node, what: str) -> str | None:
    """The name of an environment variable. A URL or secret written here instead would be kept
    in the rules file and printed in errors and logs: refused, and never repeated."""
    if not isinstance(node.value, str) or not _ENV_NAME.fullmatch(node.value):
        looks = isinstance(node.value, str) and ("://" in node.value or "@" in node.value or "/" in node.value
                                                 or node.value.startswith("xox"))
        example = {"URL": "WARWIRE_SLACK_WEBHOOK_URL", "bot token": "WARWIRE_SLACK_BOT_TOKEN"}.get(what, "WARWIRE_WEBHOOK_SECRET")
        node.error(f"expected the name of an environment variable holding the {what} (such as {example})"
                   + (f", not the {what} itself: move it into the environment" if looks else ""))
        return None
    return node.value


def _receiver(name: str, node: Node, doc: Doc) -> ReceiverSpec | None:
    f = node.fields(_RECEIVER_KEYS, {"type"})
    if f is None or "type" not in f:
        return None
    typ = f["type"].choice(RECEIVER_TYPES)
    url_env = _env_name(f["url_env"], "URL") if "url_env" in f else None
    secret_env = _env_name(f["secret_env"], "secret") if "secret_env" in f else None
    if typ in ("slack", "webhook") and "url_env" not in f:
        node.error(f"a {typ} receiver needs url_env (the environment variable holding its URL)")
        return None
    if typ is None:
        return None
    if typ != "slack-app":
        for key in ("token_env", "channel", "api_url"):
            if key in f:
                f[key].error(f"{key} is for slack-app receivers (a {typ} receiver does not use it)")
        return ReceiverSpec(name, typ, url_env, secret_env, file=doc.file, line=node.line)
    missing = [k for k in ("token_env", "channel") if k not in f]
    if missing:
        node.error(f"a slack-app receiver needs {' and '.join(missing)} (the variable holding its bot token "
                   "xoxb-…, and the channel id such as C0123456789)")
        return None
    if url_env or secret_env:
        node.error("a slack-app receiver uses token_env and channel, not url_env or secret_env")
        return None
    token_env = _env_name(f["token_env"], "bot token")
    channel = f["channel"].str()
    api_url = f["api_url"].str() if "api_url" in f else SLACK_API_URL
    if api_url is not None and not re.match(r"^https?://[^\s/]+(/\S*)?$", api_url):
        f["api_url"].error("expected an http(s) base URL such as https://slack.com/api/")
        return None
    if token_env is None or channel is None or api_url is None:
        return None
    return ReceiverSpec(name, typ, token_env=token_env, channel=channel, api_url=api_url.rstrip("/") + "/",
                        file=doc.file, line=node.line)


def _rule(node: Node, doc: Doc, refs: list[tuple[Node, str]]) -> RuleSpec | None:
    f = node.fields(_RULE_KEYS, {"name", "type"})
    if f is None or "name" not in f or "type" not in f:
        return None
    before = len(doc.issues)
    name = f["name"].str()
    typ = f["type"].choice(RULE_TYPES)
    kw: dict[str, object] = {}
    if "severity" in f:
        kw["severity"] = f["severity"].choice(SEVERITIES)
    for key, attr in (("topics", "topics_any"), ("all_topics", "topics_all")):
        if key in f:
            vals = f[key].strings()
            kw[attr] = tuple(vals)
            for i, v in enumerate(vals):
                refs.append((_item(f[key], i), f"topic:{v}"))
    if "languages" in f:
        langs = f["languages"].strings()
        for i, lang in enumerate(langs):
            if lang not in LANGUAGES:
                _item(f["languages"], i).error(f"unknown language '{lang[:40]}' (one of {', '.join(LANGUAGES)})")
        kw["languages"] = tuple(langs)
    if "sources" in f:
        kw["sources"] = tuple(f["sources"].strings())
    if "labels" in f:
        kw["labels"] = {k: s for k, v in f["labels"].items() if (s := v.str()) is not None}
    if "query" in f and (q := f["query"].str()) is not None:
        try:
            parse_query(q)
            kw["query"] = q
        except QueryError as exc:
            f["query"].error(str(exc))
    if "min_outlets" in f:
        kw["min_outlets"] = f["min_outlets"].int(lo=1, hi=1000)
    if "realert" in f:
        kw["realert_s"] = f["realert"].duration(positive=True)
    if "key" in f:
        kw["key"] = f["key"].choice(KEYS)
    if "description" in f:
        kw["description"] = f["description"].str()
    if "receivers" in f:
        vals = f["receivers"].strings()
        kw["receivers"] = tuple(vals)
        for i, v in enumerate(vals):
            refs.append((_item(f["receivers"], i), f"receiver:{v}"))
    _type_specific(f, typ, kw)
    if len(doc.issues) > before or name is None or typ is None:
        return None
    return RuleSpec(name=name, type=typ, file=doc.file, line=node.line, **kw)  # type: ignore[arg-type]


_POSITIVE = {"window", "baseline", "group_interval", "repeat_interval"}  # 0s would divide by zero or spin


def _type_specific(f: dict[str, Node], typ: str | None, kw: dict[str, object]) -> None:
    """The keys of frequency, spike, new_term and flatline rules, and of digests."""
    if typ is None:
        return
    for key, types in _ONLY_FOR.items():
        if key in f and typ not in types:
            f[key].error(f"'{key}' applies to {', '.join(sorted(types))} rules, not {typ}")
    for key in _REQUIRED.get(typ, ()):
        if key not in f:
            f["type"].error(f"a {typ} rule needs {key}")
    durations = {"window": "window_s", "baseline": "baseline_s", "warmup": "warmup_s", "group_wait": "group_wait_s",
                 "group_interval": "group_interval_s", "repeat_interval": "repeat_interval_s"}
    for key, attr in durations.items():
        if key in f:
            kw[attr] = f[key].duration(positive=key in _POSITIVE)
    if "window" in f and "baseline" not in f and kw.get("window_s"):
        kw["baseline_s"] = kw["window_s"]
    if typ == "new_term" and "window" not in f:
        kw["window_s"] = 30 * 86400.0
    for key, lo, hi in (("threshold", 1, 1_000_000), ("min_current", 0, 1_000_000), ("min_baseline", 0, 1_000_000)):
        if key in f:
            kw[key] = f[key].int(lo=lo, hi=hi)
    if "spike_height" in f:
        kw["spike_height"] = f["spike_height"].number(lo=1.0, hi=1000.0)
    if "spike_type" in f:
        kw["spike_type"] = f["spike_type"].choice(SPIKE_TYPES)
    if "group_by" in f:
        kw["group_by"] = f["group_by"].choice(GROUP_BY)
    if "field" in f:
        kw["field"] = f["field"].choice(NEW_TERM_FIELDS)
    if "group_interval" in f or "repeat_interval" in f:
        if "group_wait" not in f:
            f["group_interval" if "group_interval" in f else "repeat_interval"].error(
                "digest timing needs group_wait (how long the first alert of a group waits for others)")


def _item(node: Node, i: int) -> Node:
    items = node.list() if not isinstance(node.value, str) else [node]
    return items[i] if i < len(items) else node
