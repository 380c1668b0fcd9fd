"""Strict loading of rule files: every error, with file, line and path, or a valid RuleSetSpec.

Any number of files may be given (or directories, whose *.yaml files are read in name order).
Receivers and rules from all files form one set; rule names must be unique across files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from alerts.model import (
    KEYS,
    RECEIVER_TYPES,
    RULE_TYPES,
    SEVERITIES,
    ReceiverSpec,
    RuleSetSpec,
    RuleSpec,
)
from alerts.query import QueryError
from alerts.query import parse as parse_query
from streams.core.spec import Doc, Node, SpecError, SpecIssue, load_yaml

_RULE_KEYS = {
    "name", "type", "severity", "topics", "all_topics", "languages", "sources", "labels", "query", "min_outlets",
    "realert", "key", "receivers", "description",
}
_RECEIVER_KEYS = {"type", "url_env", "secret_env"}
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


def _receiver(name: str, node: Node, doc: Doc) -> ReceiverSpec | None:
    f = node.fields(_RECEIVER_KEYS, {"type"})
    if f is None or "type" not in f:
        return None
    typ = f["type"].choice(RECEIVER_TYPES)
    url_env = f["url_env"].str() if "url_env" in f else None
    secret_env = f["secret_env"].str() if "secret_env" in f else None
    if typ in ("slack", "webhook") and "url_env" not in f:
        node.error(f"a {typ} receiver needs url_env (the environment variable holding its URL)")
        return None
    if typ is None:
        return None
    return ReceiverSpec(name, typ, url_env, secret_env, doc.file, node.line)


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
        kw["languages"] = tuple(f["languages"].strings())
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
        kw["realert_s"] = f["realert"].duration()
    if "key" in f:
        kw["key"] = f["key"].choice(KEYS)
    if "description" in f:
        kw["description"] = f["description"].str()
    if "receivers" in f:
        vals = f["receivers"].strings()
        kw["receivers"] = tuple(vals)
        for i, v in enumerate(vals):
            refs.append((_item(f["receivers"], i), f"receiver:{v}"))
    if typ == "coverage" and "min_outlets" not in f:
        f["type"].error("a coverage rule needs min_outlets")
    if len(doc.issues) > before or name is None or typ is None:
        return None
    return RuleSpec(name=name, type=typ, file=doc.file, line=node.line, **kw)  # type: ignore[arg-type]


def _item(node: Node, i: int) -> Node:
    items = node.list() if not isinstance(node.value, str) else [node]
    return items[i] if i < len(items) else node
