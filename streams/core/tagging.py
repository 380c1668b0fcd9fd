"""Topic tagging: a taxonomy file compiled into one Aho-Corasick automaton, applied to items.

How a term matches. Each word of a term is normalised (streams.core.text) and, for languages that
have a Snowball stemmer (de, en, fr, ru), reduced to its stem; a word of the item matches when it
starts with that stem, so case endings and German compound heads (Luftverteidigungssysteme) match
`Luftverteidigung`. Ukrainian words are stemmed from pymorphy3's dictionary (the prefix all forms
of the word share, one per branch where a noun's vowel alternates), and the dictionary adds to
Russian stems what Snowball misses (participles, fleeting vowels); see streams/core/tagcompile.py.
German stems of six letters or more also match inside a word (Atomkraftwerk). Stems shorter than
four letters match the word as written (in ru and uk, every dictionary form of it), and
`any`-language terms (names, acronyms) match whole words only; a trailing `*` asks for a prefix
instead. A phrase matches consecutive words. Case is
ignored, except that an acronym spelling a common word (ПРО, also про) matches only in capitals.

A term may require context (`near`: one of these within `window` words) or forbid it (`not_near`);
a topic's `exclude` phrases cancel the term matches they overlap (New England Patriots). A topic is
given when the summed weight of its distinct matched terms reaches its threshold. Pure: the
automaton is built once per taxonomy version, and tagging allocates only its result.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from itertools import accumulate

from streams.core.spec import SpecError  # noqa: F401 - re-exported
from streams.core.tagcompile import (  # noqa: F401 - the compiled taxonomy, re-exported for its users
    CONTEXT,
    EXACT,
    INFIX,
    PREFIX,
    Taxonomy,
    _phrase_words,
    compile_taxonomy,
    uk_stem,
)
from streams.core.taxonomy import (  # noqa: F401 - the taxonomy's model, re-exported for its users
    LANGS,
    TaxonomySpec,
    TermSpec,
    TopicSpec,
    load_taxonomy,
    parse_taxonomy,
)
from streams.core.text import Normalized, calls_to_action, normalize, tokens, words
from streams.schema import Match, NewsItem

SUMMARY_FRAME = 40  # a title term's context may be in the summary's first words
CONTEXT_SUMMARY_WEIGHT = 2.0  # a context in the summary alone: its terms there weigh this much (two, or one strong)


@dataclass(frozen=True, slots=True)
class TagResult:
    topics: list[str]
    scores: dict[str, float]
    matches: list[Match] = field(default_factory=list)
    vetoed: dict[str, str] = field(default_factory=dict)  # topic -> the context that vetoed it


@dataclass(frozen=True, slots=True)
class _Hit:
    phrase: int
    t0: int
    t1: int  # token range [t0, t1)
    start: int
    end: int  # normalised char span


def _find_phrases(tax: Taxonomy, norm: str, lang: str) -> dict[int, list[_Hit]]:
    """Every phrase of the taxonomy found in normalised text, with token and character spans.

    The automaton runs over the words joined by single spaces, with whole-word patterns written
    as " word " and prefixes as " stem", so it only reports matches that start at a word.
    """
    toks = tokens(norm)
    if not toks or tax.n_patterns == 0:
        return {}
    stream = " " + " ".join(toks) + " "
    tok_starts = list(accumulate([len(t) + 1 for t in toks], initial=1))
    at = dict(zip(tok_starts, range(len(toks)), strict=False))
    word_hits: dict[tuple[int, int], set[int]] = {}
    for end_i, (plen, sl) in tax.automaton.iter(stream):
        start = end_i - plen + 1
        tok = at.get(start + 1)
        for slot in sl:
            if lang and slot.lang != "any" and slot.lang != lang:
                continue
            if slot.mode == INFIX:
                tok = bisect.bisect_right(tok_starts, start) - 1
                if tok < 0 or end_i >= tok_starts[tok] + len(toks[tok]):
                    continue
            word_hits.setdefault((slot.phrase, slot.pos), set()).add(tok)  # type: ignore[arg-type]
    out: dict[int, list[_Hit]] = {}
    if not word_hits and "-" not in norm:
        return out  # most texts: nothing to place, no hyphenated words to search again
    spans = words(norm)
    for (pid, pos0), first in word_hits.items():
        if pos0 != 0:
            continue
        n = tax.phrase_len[pid]
        for t in sorted(first):
            if t + n <= len(spans) and all(t + k in word_hits.get((pid, k), ()) for k in range(1, n)):
                out.setdefault(pid, []).append(_Hit(pid, t, t + n, spans[t][0], spans[t + n - 1][1]))
    if "-" in norm:
        _hyphen_compounds(tax, norm, toks, spans, lang, out)
    return out


def _hyphen_compounds(tax: Taxonomy, norm: str, toks: list[str], spans: list[tuple[int, int]], lang: str,
                      out: dict[int, list[_Hit]]) -> None:
    """One-word terms found in words written with hyphens (Gefangenen-Austausch for
    Gefangenenaustausch, Energie-Infrastruktur): each run of words joined by "-" is searched
    again as one word, and a hit spans the run."""
    runs: list[tuple[int, int]] = []
    k = 0
    while k < len(spans) - 1:
        m = k
        while m < len(spans) - 1 and norm[spans[m][1]:spans[m + 1][0]] == "-":
            m += 1
        if m > k:
            runs.append((k, m + 1))
        k = m + 1
    for t0, t1 in runs:
        for phrase in _one_word_terms(tax, "".join(toks[t0:t1]), lang, infix_anywhere=True):
            hits = out.setdefault(phrase, [])
            if all(h.t0 != t0 for h in hits):
                hits.append(_Hit(phrase, t0, t1, spans[t0][0], spans[t1 - 1][1]))


def _one_word_terms(tax: Taxonomy, word: str, lang: str, infix_anywhere: bool) -> set[int]:
    """The one-word terms that match `word` (a word put together from others) as a whole:
    prefixes and whole words from its start, infixes anywhere when `infix_anywhere`, else from its
    start too."""
    stream = " " + word + " "
    found: set[int] = set()
    for end_i, (plen, sl) in tax.automaton.iter(stream):
        start = end_i - plen + 1  # 0: a " word" pattern at the start; 1: an infix pattern at the start
        for slot in sl:
            if slot.pos != 0 or tax.phrase_len[slot.phrase] != 1 or (lang and slot.lang not in ("any", lang)):
                continue
            if slot.mode == INFIX:
                if not infix_anywhere and start != 1:
                    continue
            elif start != 0:
                continue
            if slot.mode == EXACT and end_i != len(stream) - 1:
                continue
            found.add(slot.phrase)
    return found


# German separable verbs: the particle stands at the end of the clause, away from its verb
# ("Die Luftwaffe schoss 38 Drohnen ab", "Schweden tritt der Nato bei"). Each clause that ends in
# one of these particles has the particle joined to each lower-case word before it
# (ab + schoss = abschoss, bei + tritt = beitritt), and those words are searched again as one word
# for one-word terms that start with the particle; a hit is placed at the verb.
SEPARABLE_PARTICLES = frozenset(
    "ab an auf aus bei ein fest fort her heraus herab herein herunter hin hinaus hinein los mit nach "
    "nieder vor vorbei weg weiter zu zurück zusammen".split())
_CLAUSE_END = frozenset(".,;:!?()[]–—\"«»„“”\n")


def _separable_verbs(tax: Taxonomy, norm: Normalized, original: str, out: dict[int, list[_Hit]]) -> None:
    text = norm.text
    toks = tokens(text)
    if SEPARABLE_PARTICLES.isdisjoint(toks):
        return  # most fields: no particle, nothing to join
    spans = words(text)
    clause_start = 0
    for i, tok in enumerate(toks):
        gap_after = text[spans[i][1]:spans[i + 1][0]] if i + 1 < len(toks) else "."
        ends_clause = any(c in _CLAUSE_END for c in gap_after)
        if ends_clause and tok in SEPARABLE_PARTICLES and i > clause_start:
            for v in range(clause_start, i):
                s, _ = norm.span(spans[v][0], spans[v][1])
                if not original[s:s + 1].islower() or toks[v] in SEPARABLE_PARTICLES:
                    continue  # German verbs are written in lower case; nouns and names are not
                for phrase in _one_word_terms(tax, tok + toks[v], "de", infix_anywhere=False):  # from the particle
                    hits = out.setdefault(phrase, [])
                    if all(h.t0 != v for h in hits):
                        hits.append(_Hit(phrase, v, v + 1, spans[v][0], spans[v][1]))
        if ends_clause:
            clause_start = i + 1


_YEAR_HEADLINE = re.compile(r"^\W*(1[5-9]\d\d|20\d\d)\s*(?:год|рік|року|г\.|р\.)?\s*[:：–—]")


def _dated_title(item: NewsItem, years: int) -> bool:
    """A headline in the form of a dated entry ("1999: …", "1999 год: …") for a year at least
    `years` before the item: a look back, not news. A year elsewhere in the title ("a promise
    from 2008") is not this."""
    when = item.published or item.fetched_at
    m = _YEAR_HEADLINE.match(item.title)
    return bool(m and when is not None and int(m.group(1)) <= when.year - years)


def _lowercase_in(text: str, span: tuple[int, int]) -> bool:
    return any(c.islower() for c in text[span[0]:span[1]])


def _near(hit: _Hit, others: list[_Hit], window: int) -> bool:
    return any(o.t0 < hit.t1 + window and hit.t0 < o.t1 + window for o in others)


def tag(tax: Taxonomy, item: NewsItem) -> TagResult:
    """Tag one item: its topics (sorted), the score of each, and every match that counted.

    A term's `near` context counts within `window` words in the same field, and also anywhere in
    the title for a term in the summary, or in the summary's first `SUMMARY_FRAME` words for a
    term in the title (the title and the lead frame each other: "Turkey gives green light to
    Finland" / "… admitting … into the alliance"). A context (genre) is present when one of its
    terms is in the title or terms weighing 2 in all are in the summary (two terms, or one of
    weight 2: "a fictional island"; or, with `dated_title`, the title opens with a year long
    past), unless a context it names in `unless` has a term anywhere; it
    vetoes every topic whose `not_in` names it. A topic with `requires` is given only when one of
    those contexts has a term anywhere in the item."""
    scores: dict[str, float] = {}
    best: dict[int, float] = {}
    matches: list[Match] = []
    ctx_terms: dict[tuple[str, str], set[int]] = {}  # (context, field) -> its terms matched
    lang = item.lang if item.lang in LANGS else ""
    fields = []
    cta = calls_to_action(item.summary) if item.summary else []  # the channel's sentences
    for fname, text in (("title", item.title), ("summary", item.summary)):
        if text:
            norm = normalize(text)
            found_here = _find_phrases(tax, norm.text, lang)
            if lang == "de":
                _separable_verbs(tax, norm, text, found_here)
            fields.append((fname, norm, found_here, text))
    found = {fname: hits for fname, _, hits, _ in fields}
    frame = {"title": {p: [h for h in hs if h.t0 < SUMMARY_FRAME] for p, hs in found.get("summary", {}).items()},
             "summary": found.get("title", {})}
    for fname, norm, hits, text in fields:
        if not hits:
            continue
        other = frame[fname]
        for ti in (ti for pid in hits for ti in tax.by_phrase.get(pid, ())):
            term = tax.terms[ti]
            th = hits[term.phrase]
            excl = [h for x in tax.excludes[term.topic] for h in hits.get(x, ())]
            for h in th:
                if excl and _near(h, excl, 0):
                    continue
                if term.capitals and _lowercase_in(text, norm.span(h.start, h.end)):
                    continue  # про (about), not ПРО (missile defence)
                if term.near and not _near(h, [c for p in term.near for c in hits.get(p, ()) if c != h], term.spec.window) \
                        and not any(other.get(p) for p in term.near):
                    continue
                if term.not_near and _near(h, [c for p in term.not_near for c in hits.get(p, ())], term.spec.window):
                    continue
                s, e = norm.span(h.start, h.end)
                if term.topic.startswith(CONTEXT):
                    if not (fname == "summary" and any(a <= s and e <= b for a, b in cta)):
                        ctx_terms.setdefault((term.topic[1:], fname), set()).add(ti)
                    continue
                matches.append(Match(topic=term.topic, term=term.spec.text, field=fname,
                                     start=s, end=e, weight=term.spec.weight))
                best[ti] = term.spec.weight
    for ti, w in best.items():
        topic = tax.terms[ti].topic
        scores[topic] = scores.get(topic, 0.0) + w
    named = {c for c, _ in ctx_terms}  # contexts with a term anywhere in the item
    present = {c for (c, fname), ts in ctx_terms.items()
               if fname == "title" or sum(tax.terms[ti].spec.weight for ti in ts) >= CONTEXT_SUMMARY_WEIGHT - 1e-9}
    for c, years in tax.dated.items():
        if _dated_title(item, years):
            present.add(c)
            named.add(c)
    present = {c for c in present if not any(u in named for u in tax.unless.get(c, ()))}
    vetoed = {t: c for t in scores for c in tax.not_in.get(t, ()) if c in present}
    for t, needed in tax.requires.items():
        if t in scores and t not in vetoed and not any(c in named for c in needed):
            vetoed[t] = "needs " + " or ".join(needed)
    topics = sorted(t for t, s in scores.items() if s >= tax.thresholds[t] - 1e-9 and t not in vetoed)
    kept = [m for m in matches if m.topic in topics]
    return TagResult(topics=topics, scores={t: round(scores[t], 3) for t in topics}, matches=kept,
                     vetoed={t: c for t, c in vetoed.items() if scores[t] >= tax.thresholds[t] - 1e-9})


__all__ = ["SpecError", "Taxonomy", "TaxonomySpec", "TagResult", "compile_taxonomy", "load_taxonomy",
           "parse_taxonomy", "tag"]
