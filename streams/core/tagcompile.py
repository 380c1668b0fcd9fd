"""A taxonomy compiled for matching (streams/core/tagging.py applies it): every term's words as
patterns of one Aho-Corasick automaton, each a stem or word that matches a word of the text
exactly, as a prefix, or (German compounds) inside it, and what each pattern means. Pure."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

import ahocorasick
import Stemmer

from streams.core.taxonomy import TaxonomySpec, TermSpec
from streams.core.text import LANGUAGES, fold, normalize, words

STEMMERS = {"de": "german", "en": "english", "fr": "french", "ru": "russian"}
_MIN_PREFIX = 4
_MIN_INFIX_DE = 6
CONTEXT = "@"  # prefix of a context's id among the compiled terms
EXACT, PREFIX, INFIX = 0, 1, 2  # how a compiled pattern matches a word


@dataclass(frozen=True, slots=True)
class _Slot:
    phrase: int
    pos: int
    mode: int
    lang: str


@dataclass(frozen=True, slots=True)
class _Term:
    topic: str
    spec: TermSpec
    phrase: int
    near: tuple[int, ...]
    not_near: tuple[int, ...]
    capitals: bool = False  # an acronym that spells a common word: matches only written in capitals


COMMON_WORD_ZIPF = 5.0  # wordfreq's Zipf scale: about the 300 commonest words of a language (про, about, und)


def spells_a_common_word(text: str, lang: str) -> bool:
    """An acronym (2-6 capital letters, nothing else but digits, hyphens or slashes) whose letters,
    lowercased, are one of the commonest words of its language, or of any of the five for an
    `any` term: ПРО (missile defence) is also про (about). Such a term matches only a word
    written in capitals."""
    from wordfreq import zipf_frequency

    word = text.rstrip("*")
    letters = [c for c in word if c.isalpha()]
    if not (2 <= len(letters) <= 6) or any(not c.isupper() for c in letters) \
            or any(not (c.isalnum() or c in "-/") for c in word):
        return False
    return any(zipf_frequency(word.lower(), lg, wordlist="small") >= COMMON_WORD_ZIPF
               for lg in ((lang,) if lang in LANGUAGES else LANGUAGES))


@dataclass
class Taxonomy:
    """A compiled taxonomy: the automaton and what each of its patterns means."""

    spec: TaxonomySpec
    automaton: ahocorasick.Automaton
    phrase_len: list[int]
    terms: list[_Term]
    excludes: dict[str, list[int]]
    by_phrase: dict[int, list[int]]
    thresholds: dict[str, float]
    n_patterns: int = 0
    not_in: dict[str, tuple[str, ...]] = field(default_factory=dict)  # topic -> contexts that veto it
    requires: dict[str, tuple[str, ...]] = field(default_factory=dict)  # topic -> one must be named
    unless: dict[str, tuple[str, ...]] = field(default_factory=dict)  # context -> contexts that cancel it
    dated: dict[str, int] = field(default_factory=dict)  # context -> years back a title's opening year must be

    @property
    def version(self) -> str:
        return self.spec.version


def _stemmer(lang: str) -> Stemmer.Stemmer | None:
    name = STEMMERS.get(lang)
    return Stemmer.Stemmer(name) if name else None


@functools.lru_cache(maxsize=2)
def _morph(lang: str) -> Any:
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang=lang)


def _lexeme(word: str, lang: str) -> tuple[Any, list[str]]:
    """The parse of `word` whose dictionary form it is, if any (політика, the policy, not a form
    of політик, the politician), else the one with the most forms (the noun світло rather than
    the adverb), and its forms, lower-cased and folded (ё → е)."""
    parses = _morph(lang).parse(word)[:4]
    w = fold(word.lower())
    best = max(parses, key=lambda p: (fold(p.normal_form) == w, len(p.lexeme))) if parses else None
    return best, [fold(f.word.lower()) for f in best.lexeme] if best else [fold(word.lower())]


def _branch_stems(w: str, best: Any, forms: list[str]) -> tuple[str, ...]:
    """The longest prefix shared by all of a word's forms (оборона, оборони, обороні … → оборон).
    When that prefix cuts more than an ending off a noun, its forms split at a vowel alternation
    (відеогра, відеогри … / відеоігри, відеоігор): one stem per branch, the word's
    own first (відеогр, відеоіг), not the short common part (відео, which is every "Відео:"
    headline). Verbs and adjectives keep the common prefix (their branches are tenses and
    genders, and the short prefix also finds the related noun)."""
    full = os.path.commonprefix(forms)
    if not w.startswith(full):
        return ()  # the dictionary spells it otherwise (геймпад as ґеймпад): the word as written
    if len(full) >= len(w) - 2 or best is None or best.tag.POS != "NOUN":
        return (full,) if full else ()
    branches: dict[str, list[str]] = {}
    for f in forms:
        if len(f) > len(full):
            branches.setdefault(f[len(full)], []).append(f)
    own = w[len(full)] if len(w) > len(full) else ""
    stems = [os.path.commonprefix(branches.pop(own, [w]))]
    stems += [os.path.commonprefix(b) for b in branches.values()]
    return tuple(dict.fromkeys(st for st in stems if st))


@functools.lru_cache(maxsize=65536)
def uk_stems(word: str) -> tuple[str, ...]:
    """A Ukrainian word's stems from its dictionary lexeme (`_branch_stems`), its own first.
    Snowball has no Ukrainian; pymorphy3's dictionary does."""
    w = fold(word.lower())
    best, forms = _lexeme(word, "uk")
    return _branch_stems(w, best, forms) or (w,)


@functools.lru_cache(maxsize=65536)
def ru_extra_stems(word: str) -> tuple[str, ...]:
    """What a Russian word's Snowball stem misses, from pymorphy3's dictionary: the forms of a
    noun at a fleeting or alternating vowel (ветер → ветр: "ветра"), and a verb's past passive
    participle (перехватили → перехвачен: "ракеты перехвачены"; отразили → отражен: "атака
    отражена")."""
    w = fold(word.lower())
    best, forms = _lexeme(word, "ru")
    if best is None or not _morph("ru").word_is_known(word):
        return ()
    if best.tag.POS in ("VERB", "INFN", "PRTF", "PRTS", "GRND"):
        passive = [fold(f.word.lower()) for f in best.lexeme
                   if {"PRTF", "pssv", "past"} <= set(f.tag.grammemes) or {"PRTS", "pssv", "past"} <= set(f.tag.grammemes)]
        return (os.path.commonprefix(passive),) if passive else ()
    if best.tag.POS != "NOUN":
        return ()
    stem = os.path.commonprefix([w, fold(_stemmer("ru").stemWord(w))])  # type: ignore[union-attr]
    missed = [f for f in forms if not f.startswith(stem)]
    return (os.path.commonprefix(missed),) if missed else ()


@functools.lru_cache(maxsize=65536)
def short_word_forms(word: str, lang: str) -> tuple[str, ...]:
    """Every form of a short Russian or Ukrainian word that the dictionary knows (путь: пути,
    путём; сили: сил, силами), for a word too short to match by its stem; () if unknown."""
    if not _morph(lang).word_is_known(word):
        return ()
    _, forms = _lexeme(word, lang)
    return tuple(dict.fromkeys(forms))


def uk_stem(word: str) -> str:
    """A Ukrainian word's own stem (the first of `uk_stems`)."""
    return uk_stems(word)[0]


_UK_VOWELS = "аеєиіїоуюя"
_UK_ALTERNATION = {"і": "ое", "ї": "є"}


def uk_alternates(prefix: str) -> list[str]:
    """The other forms of a Ukrainian prefix whose last syllable closes on і or ї: that vowel
    becomes о or е (ї becomes є) when an ending opens the syllable, so a prefix as written misses
    the inflected forms (Харків → Харкова, Харкові; Львів → Львові; Миколаїв → Миколаєва; піч →
    печі). Only the last vowel, and only when consonants alone follow it."""
    for i in range(len(prefix) - 1, -1, -1):
        ch = prefix[i]
        if ch in _UK_VOWELS:
            if ch in _UK_ALTERNATION and i < len(prefix) - 1 and i > 0:
                return [prefix[:i] + alt + prefix[i + 1:] for alt in _UK_ALTERNATION[ch]]
            return []
    return []


def _apostrophe_words(norm: str, spans: list[tuple[int, int]]) -> dict[int, tuple[str, int]]:
    """The patterns of a Ukrainian word written with an apostrophe (об'єкт, енергооб'єкт), which
    matching splits into words at it: the parts before the apostrophe as written, the last as a
    prefix, cut where the whole word's stem ends (енергооб + єкт*: енергооб'єкти, енергооб'єктів),
    rather than the last part alone as a whole word. Keyed by span index; {} when there is none."""
    out: dict[int, tuple[str, int]] = {}
    i = 0
    while i < len(spans):
        j = i
        while j + 1 < len(spans) and spans[j][1] + 1 == spans[j + 1][0] and norm[spans[j][1]] == "'":
            j += 1
        if j > i:
            joined = norm[spans[i][0]:spans[j][1]]
            parts, stem_parts = joined.split("'"), uk_stem(joined).split("'")
            if len(stem_parts) == len(parts) and stem_parts[:-1] == parts[:-1] and stem_parts[-1]:
                for k in range(i, j):
                    out[k] = (parts[k - i], EXACT)
                out[j] = (stem_parts[-1], PREFIX)
        i = j + 1
    return out


def _phrase_words(text: str, lang: str, exact: bool, loose: bool) -> list[tuple[str, int]]:
    """The (pattern, mode) of each word of a term. `loose` words (context) default to prefixes."""
    norm = normalize(text.strip()).text
    star = norm.endswith("*")
    spans = words(norm)
    stem = _stemmer(lang)
    out: list[tuple[str, int]] = []
    inside = _apostrophe_words(norm, spans) if lang == "uk" and not exact else {}
    for i, (s, e) in enumerate(spans):
        w = norm[s:e]
        last = i == len(spans) - 1
        if i in inside:
            out.append(inside[i])
        elif exact:
            out.append((w, EXACT))
        elif star and last:
            out.append((w, PREFIX))  # `word*`: a prefix as written, in every language
        elif stem is not None:
            # The stem as a prefix of the word as written: Snowball rewrites some endings
            # (energy → energi, supply → suppli), and a pattern must be a prefix of real text.
            st = os.path.commonprefix([w, stem.stemWord(w)])
            if len(st) < _MIN_PREFIX:
                # A short stem (обмен → обм) would match too much; the word as written, as a
                # prefix, still matches its endings (обмена, обменом); a short word stays whole.
                out.append((w, PREFIX) if len(w) >= _MIN_PREFIX + 1 else (w, EXACT))
            elif lang == "de" and i == 0 and len(st) >= _MIN_INFIX_DE:
                out.append((st, INFIX))
            else:
                out.append((st, PREFIX))
        elif lang == "uk":
            st = uk_stem(w)
            if len(st) < _MIN_PREFIX:
                out.append((w, PREFIX) if len(w) >= _MIN_PREFIX + 1 else (w, EXACT))
            else:
                out.append((st, PREFIX))
        elif loose and len(w) >= _MIN_PREFIX:
            out.append((w, PREFIX))
        else:
            out.append((w, EXACT))
    return out


def _dictionary_alternates(text: str, lang: str, exact: bool,
                           pw: list[tuple[str, int]]) -> list[tuple[str, ...]]:
    """For each word of a ru or uk term, the other patterns (same mode) the dictionary adds to
    `_phrase_words`' one: a short word's forms (путь: пути, путём), a Ukrainian noun's other
    branch and its і → о/е alternation (Харків*: Харкова), a Russian word's forms that Snowball
    misses (перехвачены). None for a word written with an apostrophe (its stem is the whole
    word's) or an `exact` term."""
    norm = normalize(text.strip()).text
    spans = words(norm)
    starred = text.strip().endswith("*")
    out: list[tuple[str, ...]] = []
    for pos, ((pat, mode), (s, e)) in enumerate(zip(pw, spans, strict=True)):
        w = norm[s:e]
        extra: set[str] = set()
        if exact or (lang == "uk" and "'" in norm[max(0, s - 1):e + 1]):
            pass
        elif mode == EXACT:
            extra = {f for f in short_word_forms(w, lang) if f != pat}
        elif mode == PREFIX:
            if lang == "uk":
                extra = {*uk_alternates(pat), *(uk_stems(w)[1:] if pat == uk_stem(w) else ())}
            elif not (starred and pos == len(pw) - 1):
                extra = set(ru_extra_stems(w))
            extra = {st for st in extra if len(st) >= _MIN_PREFIX and not st.startswith(pat)}
        out.append(tuple(sorted(extra)))
    return out


def compile_taxonomy(spec: TaxonomySpec) -> Taxonomy:
    """Build the automaton for a taxonomy. Cost is paid once per taxonomy version."""
    slots: dict[tuple[str, int], list[_Slot]] = {}
    phrase_len: list[int] = []

    def add_phrase(text: str, lang: str, exact: bool = False, loose: bool = False) -> int:
        pid = len(phrase_len)
        pw = _phrase_words(text, lang, exact, loose)
        phrase_len.append(len(pw))
        alternates = _dictionary_alternates(text, lang, exact, pw) if lang in ("uk", "ru") else [()] * len(pw)
        for pos, ((pat, mode), alts) in enumerate(zip(pw, alternates, strict=True)):
            slot = _Slot(pid, pos, mode, lang)
            for key in ((pat, mode), *((alt, mode) for alt in alts)):
                slots.setdefault(key, []).append(slot)
        return pid

    terms: list[_Term] = []
    excludes: dict[str, list[int]] = {}
    for topic in spec.topics:
        for t in topic.terms:
            terms.append(_Term(
                topic=topic.id, spec=t, phrase=add_phrase(t.text, t.lang, t.exact),
                near=tuple(add_phrase(c, "any", loose=True) for c in t.near),
                not_near=tuple(add_phrase(c, "any", loose=True) for c in t.not_near),
                capitals=spells_a_common_word(t.text, t.lang),
            ))
        excludes[topic.id] = [add_phrase(x, "any") for x in topic.exclude]
    for ctx in spec.contexts:
        for t in ctx.terms:
            terms.append(_Term(
                topic=CONTEXT + ctx.id, spec=t, phrase=add_phrase(t.text, t.lang, t.exact),
                near=tuple(add_phrase(c, "any", loose=True) for c in t.near),
                not_near=tuple(add_phrase(c, "any", loose=True) for c in t.not_near),
                capitals=spells_a_common_word(t.text, t.lang),
            ))
        excludes[CONTEXT + ctx.id] = []

    automaton = ahocorasick.Automaton()
    for key, sl in slots.items():
        pat, mode = key
        text = {EXACT: f" {pat} ", PREFIX: f" {pat}", INFIX: pat}[mode]
        automaton.add_word(text, (len(text), tuple(sl)))
    if slots:
        automaton.make_automaton()
    by_phrase: dict[int, list[int]] = {}
    for ti, term in enumerate(terms):
        by_phrase.setdefault(term.phrase, []).append(ti)
    thresholds = {t.id: t.threshold for t in spec.topics}
    return Taxonomy(spec, automaton, phrase_len, terms, excludes, by_phrase, thresholds,
                    n_patterns=len(slots), not_in={t.id: t.not_in for t in spec.topics if t.not_in},
                    requires={t.id: t.requires for t in spec.topics if t.requires},
                    unless={c.id: c.unless for c in spec.contexts if c.unless},
                    dated={c.id: c.dated_title for c in spec.contexts if c.dated_title})


# ---------------------------------------------------------------------------------------------
# Tagging


