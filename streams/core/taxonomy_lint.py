"""Warnings about a taxonomy that loads but may not match what its author meant. Pure.

- **short stem**: a word whose stem is under four letters matches as the word written, as a
  prefix (обмен → обмена, обменом) or, when the word itself has four letters, as a whole word
  only (it never matches its other forms): write the forms, or `word*`. A Russian or Ukrainian
  word the dictionary knows is not warned of: it matches its dictionary forms (путь: пути, путём).
- **capitals only**: an acronym whose letters spell one of its language's commonest words
  (ПРО, missile defence, is also про, "about") matches only where it is written in capitals.
- **short prefix**: a `word*` of three letters or fewer that starts many of its language's
  commonest words (`Сум*`, for the city of Sumy, also starts сумно "sadly", сумніви "doubts",
  суміш "mixture"): write the forms instead.
- **never matches itself**: a term whose own words, as an item's text, do not match it (a
  dictionary that spells the word otherwise, геймпад stored as ґеймпад, once gave such a stem).
- **shadowed**: a term that can never add anything, because another term of the same topic and
  language without context already matches every text it matches (`Luftabwehr` shadows
  `Luftabwehrsystem`; a term written twice).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from streams.core.tagcompile import short_word_forms, spells_a_common_word
from streams.core.tagging import EXACT, PREFIX, TaxonomySpec, TermSpec, _find_phrases, _phrase_words, compile_taxonomy
from streams.core.text import LANGUAGES, fold, normalize

SHORT_PREFIX = 3  # a `word*` this long or shorter is checked against the language's commonest words
SHORT_PREFIX_WORDS = 10  # ... and warned of when it starts this many of them
COMMON_WORDS = 30000


@functools.lru_cache(maxsize=8)
def _common_words(lang: str) -> tuple[str, ...]:
    from wordfreq import top_n_list

    return tuple(dict.fromkeys(fold(w.lower()) for w in top_n_list(lang, COMMON_WORDS, wordlist="small")))


def short_prefix_words(text: str, lang: str) -> list[str]:
    """The commonest words (of `lang`, or of all five for `any`) that a short `word*` starts,
    when there are many of them; else []."""
    if not text.rstrip().endswith("*") or " " in text.strip():
        return []
    prefix = fold(text.strip().rstrip("*").lower())
    if len(prefix) > SHORT_PREFIX:
        return []
    hits = [w for lg in ((lang,) if lang in LANGUAGES else LANGUAGES) for w in _common_words(lg) if w.startswith(prefix)]
    return hits if len(hits) >= SHORT_PREFIX_WORDS else []


@dataclass(frozen=True, slots=True)
class Warning:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: warning: {self.message}"


def lint(spec: TaxonomySpec, file: str) -> list[Warning]:
    out: list[Warning] = []
    tax = compile_taxonomy(spec)
    for t in tax.terms:
        own = normalize(t.spec.text.strip().rstrip("*")).text
        if t.phrase not in _find_phrases(tax, own, t.spec.lang if t.spec.lang != "any" else ""):
            kind, tid = ("contexts", t.topic[1:]) if t.topic.startswith("@") else ("topics", t.topic)
            out.append(Warning(file, t.spec.line, f"{kind}.{tid}.terms.{t.spec.lang}",
                               f"'{t.spec.text}' does not match its own text: it can never match"))
    for topic in (*spec.topics, *spec.contexts):
        seen: list[tuple[TermSpec, list[tuple[str, int]]]] = []
        for term in topic.terms:
            path = f"{'contexts' if topic in spec.contexts else 'topics'}.{topic.id}.terms.{term.lang}"
            words = _phrase_words(term.text, term.lang, term.exact, loose=False)
            if not term.exact and term.lang != "any" and not term.text.rstrip().endswith("*"):
                for k, (w, mode) in enumerate(words):
                    if k + 1 < len(words) and term.lang == "uk" and f"{w}'" in normalize(term.text).text:
                        continue  # the part before an apostrophe (енергооб'єкт) is whole by design
                    if term.lang in ("ru", "uk") and short_word_forms(w, term.lang):
                        continue  # a known short word matches its dictionary forms (путь: пути, путём)
                    if mode == EXACT and len(w) >= 4:  # shorter words (de, air, ПВО) are whole words by nature
                        out.append(Warning(file, term.line, path, f"'{w}' in '{term.text}' has a stem under four "
                                           "letters and matches as a whole word only: write its forms, or 'word*'"))
            starts = short_prefix_words(term.text, term.lang)
            if starts:
                out.append(Warning(file, term.line, path, f"'{term.text}' starts {len(starts)} of the "
                                   f"{COMMON_WORDS:,} commonest words ({', '.join(starts[:6])}, …): "
                                   "check each is meant, or write the forms"))
            if spells_a_common_word(term.text, term.lang):
                out.append(Warning(file, term.line, path, f"'{term.text}' spells the common word "
                                   f"'{term.text.rstrip('*').lower()}': it matches only where written in capitals"))
            for other, owords in seen:
                if other.lang == term.lang and not (other.near or other.not_near) and _covers(owords, words):
                    out.append(Warning(file, term.line, path, f"'{term.text}' is shadowed by '{other.text}' "
                                       f"(line {other.line}), which matches every text it matches"))
                    break
            seen.append((term, words))
    return sorted(out, key=lambda w: w.line)


def _covers(general: list[tuple[str, int]], specific: list[tuple[str, int]]) -> bool:
    """True when a phrase of `general` words is found wherever `specific` is: as long or shorter,
    each word at least as permissive (a prefix of the other's pattern)."""
    if len(general) > len(specific):
        return False
    for (g, gmode), (s, smode) in zip(general, specific, strict=False):
        if gmode == EXACT and (smode != EXACT or g != s):
            return False
        if gmode == PREFIX and not s.startswith(g):
            return False
        if gmode not in (EXACT, PREFIX) and not (s.startswith(g) and smode == gmode):
            return False
    return len(general) == len(specific) or all(m != EXACT for _, m in general[-1:])
