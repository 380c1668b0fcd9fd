"""The taxonomy file's model (topics, contexts, terms) and its strict loader; compiled for
matching by streams.core.tagging. Pure."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from streams.core.spec import Node, load_yaml, parse_yaml
from streams.core.text import LANGUAGES, normalize, words

LANGS = {*LANGUAGES, "any"}


@dataclass(frozen=True, slots=True)
class TermSpec:
    text: str
    lang: str
    weight: float = 1.0
    near: tuple[str, ...] = ()
    not_near: tuple[str, ...] = ()
    window: int = 8
    exact: bool = False
    line: int = 0  # where the term is written (for lint and eval messages)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    id: str
    label: str
    threshold: float
    terms: tuple[TermSpec, ...]
    exclude: tuple[str, ...] = ()
    not_in: tuple[str, ...] = ()  # contexts (genres) in which this topic is never given
    requires: tuple[str, ...] = ()  # contexts one of which must be named somewhere in the item
    unless: tuple[str, ...] = ()  # (a context) contexts whose presence anywhere cancels this one
    dated_title: int = 0  # (a context) also present when the title opens with a year this many years back


@dataclass(frozen=True, slots=True)
class TaxonomySpec:
    version: str
    topics: tuple[TopicSpec, ...]
    # Genres (a game review, a film, sport, history) recognised like topics, never given as tags:
    # a topic's `not_in` names the contexts that veto it.
    contexts: tuple[TopicSpec, ...] = ()

    @property
    def topic_ids(self) -> frozenset[str]:
        return frozenset(t.id for t in self.topics)


# ---------------------------------------------------------------------------------------------
# Loading


def load_taxonomy(path: str | Path) -> TaxonomySpec:
    """Load and validate a taxonomy file; raise SpecError listing every problem."""
    doc, root = load_yaml(path)
    return _taxonomy_from(root, hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12])


def parse_taxonomy(text: str, file: str = "<taxonomy>") -> TaxonomySpec:
    doc, root = parse_yaml(text, file)
    return _taxonomy_from(root, hashlib.sha256(text.encode()).hexdigest()[:12])


def _taxonomy_from(root: Node, version: str) -> TaxonomySpec:
    topics: list[TopicSpec] = []
    contexts: list[TopicSpec] = []
    top = root.fields({"version", "topics", "contexts"}, {"topics"})
    if top and "contexts" in top:
        ids = {cid for cid, _ in top["contexts"].items()}
        for cid, cnode in top["contexts"].items():
            if (c := _topic(cid, cnode, context=True, known_contexts=ids - {cid})) is not None:
                contexts.append(c)
    known = {c.id for c in contexts}
    if top and "topics" in top:
        for tid, tnode in top["topics"].items():
            if (t := _topic(tid, tnode, known_contexts=known)) is not None:
                topics.append(t)
        if not topics and not root.doc.issues:
            top["topics"].error("no topics defined")
    root.doc.raise_if_any()
    return TaxonomySpec(version=version, topics=tuple(topics), contexts=tuple(contexts))


def _contexts(f: dict[str, Node], key: str, known: set[str] | None) -> tuple[str, ...]:
    if key not in f:
        return ()
    names = tuple(f[key].strings())
    for c in names:
        if c not in (known or set()):
            f[key].error(f"unknown context '{c[:40]}' (contexts: {', '.join(sorted(known or ())) or 'none'})")
    return names


def _topic(tid: str, node: Node, context: bool = False, known_contexts: set[str] | None = None) -> TopicSpec | None:
    keys = ({"label", "terms", "unless", "dated_title"} if context
            else {"label", "threshold", "terms", "exclude", "not_in", "requires"})
    f = node.fields(keys, {"terms"})
    if f is None:
        return None
    not_in = _contexts(f, "not_in", known_contexts)
    requires = _contexts(f, "requires", known_contexts)
    unless = _contexts(f, "unless", known_contexts)
    dated = f["dated_title"].int(1, 1000) if "dated_title" in f else 0
    terms: list[TermSpec] = []
    if "terms" in f:
        for lang, lnode in f["terms"].items():
            if lang not in LANGS:
                lnode.error(f"unknown language '{lang}' (one of {', '.join(sorted(LANGS))})")
                continue
            for tn in lnode.list():
                if (t := _term(tn, lang)) is not None:
                    terms.append(t)
    label = f["label"].str() if "label" in f else tid
    threshold = f["threshold"].number(lo=0.01) if "threshold" in f else 1.0
    exclude = tuple(f["exclude"].strings()) if "exclude" in f else ()
    if label is None or threshold is None:
        return None
    return TopicSpec(tid, label, threshold, tuple(terms), exclude, not_in, requires, unless, dated or 0)


def _term(node: Node, lang: str) -> TermSpec | None:
    if isinstance(node.value, str):
        return TermSpec(text=node.value, lang=lang, line=node.line) if _has_word(node) else None
    f = node.fields({"term", "weight", "near", "not_near", "window", "exact"}, {"term"})
    if f is None or "term" not in f:
        return None
    text = f["term"].str()
    weight = f["weight"].number(lo=0.0, hi=100.0) if "weight" in f else 1.0
    window = f["window"].int(lo=1, hi=100) if "window" in f else 8
    exact = f["exact"].bool() if "exact" in f else False
    if text is None or weight is None or window is None or exact is None:
        return None
    if not _has_word(f["term"]):
        return None
    return TermSpec(
        text=text, lang=lang, weight=weight, window=window, exact=exact, line=node.line,
        near=tuple(f["near"].strings()) if "near" in f else (),
        not_near=tuple(f["not_near"].strings()) if "not_near" in f else (),
    )


def _has_word(node: Node) -> bool:
    if not isinstance(node.value, str) or not words(normalize(node.value).text):
        node.error(f"term {node.value!r} has no words")
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Compiling
