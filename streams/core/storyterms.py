"""What an item says that survives a rewrite by another outlet: pure, computed in stage 1.

Another outlet's text about the same event shares few word pairs with the first report, but it
names the same people and places, repeats the same figures and uses many of the same content
words, in other forms. So an item is reduced to:

- `terms`: content-word stems of title and summary with their counts (Snowball for de, en, fr;
  dictionary lemmas from pymorphy3 for ru and uk, so погибли / погибших are one term), function
  words, URLs and hashtag marks dropped; the title's own terms again in `title`. A German
  compound also gives the terms of its parts (`compound_parts`: Kampfdrohnen → Kampf, Drohnen;
  Stromnetz → Strom, Netz), since another outlet writes Drohnen, or Strom, on its own;
- `names`: capitalised words that do not start a sentence, acronyms and letter-digit names
  (IRIS-T, F-16), transliterated to Latin and reduced to a consonant skeleton, so that spellings of
  one name fold together (Zelenskyy / Zelenskiy / Zelensky, Kyiv / Kiev / Kiew, Selenskyj);
- `values`: the figures, normalised: 130.000 = 130,000 = 130 000, 3,5 = 3.5, "17 Millionen" =
  17 000 000, small counts written as words in the five languages (fünf, п'ятеро, trente-huit,
  one hundred and fifty), years left out (they say little about which event it was).

Everything is hashed to 32 bits; streams/core/stories.py weighs and compares it.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter
from typing import Any

import msgspec
import Stemmer
import xxhash

from streams.core.places import place_of, weekday_of
from streams.core.text import calls_to_action, fold

MAX_TERMS = 80
MAX_NAMES = 24
MAX_VALUES = 16
MIN_TERM_LEN = 3

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
def _without_calls_to_action(text: str) -> str:
    """The text without the sentences that carry a channel's call to action (the channel's, not
    the story's)."""
    spans = calls_to_action(text)
    if not spans:
        return text
    kept, at = [], 0
    for s, e in spans:
        kept.append(text[at:s])
        at = e
    kept.append(text[at:])
    return " ".join(part.strip() for part in kept if part.strip())
# Clock times (14:15 Uhr, 06:58 GMT, 7h25) say when a live blog wrote, not what happened.
# French elision (l'Otan, d'Ukraine) and the English possessive (Ukraine's) are not part of a name.
_ELISION = re.compile(r"^(?:[lLdDjJmMnNsStT]|[qQ]u)['\u2019](?=\w)|['\u2019]s$")
_CLOCK = re.compile(r"(?<![\d.,])\d{1,2}(?::\d{2}|h\d{2}|\.\d{2}(?=\s*(?:Uhr|h\b)))(?:\s*(?:Uhr|GMT|UTC|CET|MEZ|MESZ|h)\b)?")
# Words (letters, inner apostrophes and hyphens: п'ять, IRIS-T, trente-huit) and numbers with
# their group separators. A separator followed by exactly three digits groups thousands.
_TOKEN = re.compile(
    r"(?P<num>(?<![\w.,])\d{1,3}(?:(?P<sep>[.,\u00a0\u202f ])\d{3}(?!\d))(?:(?P=sep)\d{3}(?!\d))*"
    r"|\d+(?:[.,]\d+)?)(?P<suffix>[a-zA-Z]{1,2}\b)?"
    r"|(?P<word>[^\W\d_]+(?:['\u2019\u02bc][^\W\d_]+)*(?:-[^\W_]+)*)")
_SENTENCE_MARK = re.compile(r"[.!?:;«»\"„“”()\[\]|•+#\n]")
_STEMMERS = {"de": "german", "en": "english", "fr": "french"}

_STOP = {
    "de": "aber alle allem allen aller auch bei beim bereits bis dabei damit dann darauf das dass dem den denn der des "
          "die dies diese diesem diesen dieser doch durch ein eine einem einen einer eines etwa für gegen gibt habe "
          "haben hat hatte hier ihre ihrem ihren ihrer im immer ist jedoch kein keine man mehr mit nach nicht noch nun "
          "nur oder ohne sei seien sein seine seit sich sie sind soll sollen sowie über um und uns unter vom von vor "
          "war waren wegen weiter weitere wenn werden wie wieder wird wurde wurden zum zur zwischen laut heißt",
    "en": "about after again against also among and any are around because been before being between both but can "
          "could did does down during each from further had has have having here into its just more most much must "
          "near not now off once only other our out over own said same says she should since some such than that the "
          "their them then there these they this those through under until very was were what when where which while "
          "who will with would your amid more another",
    "fr": "alors après aussi autre autres avant avec avoir cela ces cette comme dans depuis des deux donc elle elles "
          "encore entre est été être fait leur leurs lors mais même moins notre nous par parmi pas plus pour sans "
          "selon ses son sont sous sur tous tout toute toutes très une vers avait ont qui que dont aux",
    "ru": "также после более было были быть ещё еще если или как когда который которые которых между может можно "
          "них него она они оно при про под так там тем того только того чем что чтобы эти этих это этот этого сообщил "
          "сообщили заявил заявила время",
    "uk": "також після більше було були бути ще якщо або як коли який які яких між може можна них нього вона вони "
          "воно при про під так там тим того тільки чим що щоб ці цих це цей цього повідомив повідомили заявив заявила "
          "зокрема",
}
_STOPWORDS = {lang: frozenset(fold(w) for w in words.split()) for lang, words in _STOP.items()}

# Small counts written as words, per language; hundreds and thousands multiply what precedes.
_NUMBER_WORDS: dict[str, dict[str, int]] = {
    "en": dict(zip("two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
                   "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety dozen".split(),
                   [*range(2, 21), 30, 40, 50, 60, 70, 80, 90, 12], strict=True)),
    "de": dict(zip("zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn "
                   "siebzehn achtzehn neunzehn zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig "
                   "dutzend".split(), [*range(2, 21), 30, 40, 50, 60, 70, 80, 90, 12], strict=True)),
    "fr": dict(zip("deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize vingt "
                   "trente quarante cinquante soixante douzaine".split(),
                   [*range(2, 17), 20, 30, 40, 50, 60, 12], strict=True)),
    "ru": dict(zip("два двух двое двоих три трех трое троих четыре четырех четверо пять пяти пятеро шесть шести шестеро "
                   "семь семи семеро восемь восьми девять девяти девятеро десять десяти десятеро одиннадцать "
                   "двенадцать тринадцать четырнадцать пятнадцать шестнадцать семнадцать восемнадцать девятнадцать "
                   "двадцать тридцать сорок пятьдесят шестьдесят семьдесят восемьдесят девяносто".split(),
                   [2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 9, 9, 9, 10, 10, 10,
                    *range(11, 21), 30, 40, 50, 60, 70, 80, 90], strict=True)),
    "uk": dict(zip("два двох двоє три трьох троє чотири чотирьох четверо п'ять п'яти п'ятеро шість шести шестеро сім "
                   "семи семеро вісім восьми восьмеро дев'ять дев'яти дев'ятеро десять десяти десятеро одинадцять "
                   "дванадцять тринадцять чотирнадцять п'ятнадцять шістнадцять сімнадцять вісімнадцять "
                   "дев'ятнадцять двадцять тридцять сорок п'ятдесят шістдесят сімдесят вісімдесят дев'яносто".split(),
                   [2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9, 10, 10, 10,
                    *range(11, 21), 30, 40, 50, 60, 70, 80, 90], strict=True)),
}
# Looked up by folded word (fünf → funf, dreißig → dreissig, трёх → трех).
_NUMBER_WORDS = {lang: {fold(w): n for w, n in table.items()} for lang, table in _NUMBER_WORDS.items()}
# Inflected forms of the teens and tens in ru/uk (четырнадцати, чотирнадцятеро, двадцяти) share a
# long stem with the base word: a word of 8+ letters that starts with a base's first len-2 letters.
_LONG_STEMS = {lang: sorted(((w[:-2], v) for w, v in table.items() if len(w) >= 8), key=lambda t: -len(t[0]))
               for lang, table in _NUMBER_WORDS.items() if lang in ("ru", "uk")}
_HUNDRED = {"hundred", "hundert", "cent", "cents", "сто", "сотня"}
_MULTIPLIERS = {
    **dict.fromkeys("thousand tausend mille тысяча тысячи тысяч тыс тисяча тисячі тисяч тис".split(), 1_000),
    **dict.fromkeys("million millions millionen mio mln млн миллион миллиона миллионов мільйон мільйона мільйонів"
                    .split(), 1_000_000),
    **dict.fromkeys("billion billions milliard milliards milliarde milliarden mrd млрд миллиард миллиарда миллиардов "
                    "мільярд мільярда мільярдів".split(), 1_000_000_000),
    "m": 1_000_000, "mn": 1_000_000, "bn": 1_000_000_000, "k": 1_000,
}
_MULTIPLIERS = {fold(w): n for w, n in _MULTIPLIERS.items()}
_CONNECTORS = {"and", "und", "et", "і", "и", "й"}

_CYRILLIC = dict(zip("абвгґдеєжзиіїйклмнопрстуфхцчшщьюяыэъё",
                     ["a", "b", "v", "g", "g", "d", "e", "e", "zh", "z", "i", "i", "i", "i", "k", "l", "m", "n", "o",
                      "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "iu", "ia", "y", "e", "", "e"],
                     strict=True))
_SKELETON_MAP = str.maketrans({"w": "v", "z": "s", "c": "k", "q": "k", "x": "k", "j": "i", "y": "i"})
_VOWELS = re.compile(r"[aeiou]")
_REPEATS = re.compile(r"(.)\1+")


class StoryTerms(msgspec.Struct, frozen=True, array_like=True):
    """An item's evidence for story clustering (module docstring). `terms` and `counts` are
    parallel lists; every list is sorted and bounded."""

    terms: list[int] = msgspec.field(default_factory=list)
    counts: list[int] = msgspec.field(default_factory=list)
    title: list[int] = msgspec.field(default_factory=list)
    names: list[int] = msgspec.field(default_factory=list)
    values: list[int] = msgspec.field(default_factory=list)
    places: list[int] = msgspec.field(default_factory=list)  # streams.core.places: which places it names
    days: list[int] = msgspec.field(default_factory=list)    # which weekdays it names (0 = Monday)


def _h(text: str) -> int:
    return xxhash.xxh32_intdigest(text.encode()) or 1


@functools.lru_cache(maxsize=4)
def _morph(lang: str) -> Any:
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang=lang)


@functools.lru_cache(maxsize=262_144)
def _lemma(word: str, lang: str) -> str:
    return str(_morph(lang).parse(word)[0].normal_form)


_snowball: dict[str, Stemmer.Stemmer] = {}

# German compounds are split where both parts are common words (Koehn & Knight, "Empirical
# Methods for Compound Splitting", EACL 2003): the split whose parts are, on average, more
# frequent than the whole word, each part a word of wordfreq's list (Zipf >= 3), the head at
# least 4 letters, a linking s/es/n/en allowed after the first part.
MIN_COMPOUND = 8
_LINKS = ("", "s", "es", "n", "en")


@functools.lru_cache(maxsize=1)
def _german_words() -> dict[str, float]:
    from wordfreq import get_frequency_dict

    return {w: math.log10(f) + 9 for w, f in get_frequency_dict("de", wordlist="small").items()}


@functools.lru_cache(maxsize=65_536)
def compound_parts(word: str) -> tuple[str, ...]:
    """The parts of a case-folded German compound (its head split again), or () when it is no
    compound: kampfdrohnen → (kampf, drohnen), energieversorgung → (energie, versorgung)."""
    if len(word) < MIN_COMPOUND or not word.isalpha():
        return ()
    zipf = _german_words()
    whole = zipf.get(word, 0.0)
    best: tuple[float, tuple[str, ...]] = (whole, ())
    for i in range(3, len(word) - 3):
        head = word[i:]
        head_z = zipf.get(head)
        if head_z is None or head_z < 3.0:
            continue
        for link in _LINKS:
            left = word[:i]
            if link:
                if not left.endswith(link) or len(left) - len(link) < 3:
                    continue
                left = left[: -len(link)]
            left_z = zipf.get(left)
            if left_z is None or left_z < 3.0:
                continue
            score = (left_z + head_z) / 2
            if score > best[0]:
                best = (score, (left, *(compound_parts(head) or (head,))))
    return best[1]


def stem(word: str, lang: str) -> str:
    """A folded word's stem: Snowball for de, en, fr; the dictionary lemma for ru and uk."""
    if lang in ("ru", "uk"):
        return _lemma(word, lang)
    name = _STEMMERS.get(lang)
    if name is None:
        return word
    st = _snowball.get(lang)
    if st is None:
        st = _snowball[lang] = Stemmer.Stemmer(name)
    return str(st.stemWord(word))


def skeleton(word: str) -> str:
    """A name's consonant skeleton in Latin letters: first letter, then consonants, similar ones
    merged (w/v, z/s, c/k/q, j/y/i), doubles collapsed; selenskyj, zelenskyy → slnsk."""
    latin = "".join(_CYRILLIC.get(ch, ch) for ch in word)
    latin = "".join(ch for ch in unicodedata.normalize("NFKD", latin) if ch.isascii() and ch.isalnum())
    latin = latin.replace("ph", "f").replace("kh", "h").translate(_SKELETON_MAP)
    if not latin:
        return ""
    return _REPEATS.sub(r"\1", latin[0] + _VOWELS.sub("", latin[1:]).replace("i", ""))


def _number_word(word: str, lang: str) -> int | None:
    table = _NUMBER_WORDS.get(lang)
    if not table:
        return None
    v = table.get(word)
    if v is None and len(word) >= 8:
        for prefix, value in _LONG_STEMS.get(lang, ()):
            if word.startswith(prefix):
                return value
    return v


def _parse_number(text: str, sep: str | None) -> float:
    if sep is not None:
        return float(re.sub(r"\D", "", text))
    return float(text.replace(",", "."))


def extract(title: str, summary: str, lang: str) -> StoryTerms:
    """The story evidence of one item (module docstring)."""
    counts: Counter[int] = Counter()
    title_terms: set[int] = set()
    names: set[int] = set()
    values: set[int] = set()
    places: set[int] = set()
    days: set[int] = set()
    for field, text in (("title", title), ("summary", summary)):
        if not text:
            continue
        text = _CLOCK.sub(" ", _URL.sub(" ", _without_calls_to_action(text)))
        pending: float | None = None  # a number being read from words (one hundred and fifty)
        last_end = -1
        prev_number: tuple[float, int] | None = None  # the last figure, for a multiplier after it

        def flush() -> None:
            nonlocal pending
            if pending is not None:
                _add_value(values, pending)
                pending = None

        for m in _TOKEN.finditer(text):
            if m.group("num") is not None:
                flush()
                value = _parse_number(m.group("num"), m.group("sep"))
                suffix = (m.group("suffix") or "").lower()
                if suffix in _MULTIPLIERS:
                    value *= _MULTIPLIERS[suffix]
                is_year = m.group("sep") is None and len(m.group("num")) == 4 and 1900 <= value <= 2100
                if not is_year:
                    _add_value(values, value)
                    prev_number = (value, m.end())
                last_end = m.end()
                continue
            raw = _ELISION.sub("", m.group("word"))
            low = fold(raw)
            gap = text[max(last_end, 0):m.start()]
            if pending is not None and gap.strip() not in ("", "-"):
                flush()
            if prev_number is not None and low in _MULTIPLIERS and gap.strip() == "":
                values.discard(_value_key(prev_number[0]))
                _add_value(values, prev_number[0] * _MULTIPLIERS[low])
                prev_number = None
                last_end = m.end()
                continue
            prev_number = None
            if "-" in low and pending is None and all(_number_word(p, lang) for p in low.split("-")):
                pending = float(sum(_number_word(p, lang) or 0 for p in low.split("-")))  # trente-huit
                last_end = m.end()
                continue
            nv = _number_word(low, lang)
            if nv is not None or (low in _HUNDRED and pending is not None) or (low in _MULTIPLIERS and pending):
                if low in _HUNDRED:
                    pending = (pending or 1) * 100
                elif low in _MULTIPLIERS:
                    pending = (pending or 1) * _MULTIPLIERS[low]
                else:
                    pending = (pending or 0) + (nv or 0)
                last_end = m.end()
                continue
            if low in _HUNDRED:
                pending = 100.0
                last_end = m.end()
                continue
            if not (pending is not None and low in _CONNECTORS):
                flush()
            sentence_start = last_end < 0 or bool(_SENTENCE_MARK.search(gap))
            last_end = m.end()
            word_names, word_terms, place, day = _word(raw, lang)
            for kind, name in word_names:
                if kind == _STRONG_NAME or not sentence_start or len(raw) >= 4:
                    names.add(name)
            if place is not None:
                places.add(place)
            if day is not None:
                days.add(day)
            for h in word_terms:
                counts[h] += 1
                if field == "title":
                    title_terms.add(h)
        flush()
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_TERMS]
    top.sort()
    return StoryTerms(terms=[t for t, _ in top], counts=[n for _, n in top],
                      title=sorted(title_terms)[:MAX_TERMS], names=sorted(names)[:MAX_NAMES],
                      values=sorted(values)[:MAX_VALUES], places=sorted(places), days=sorted(days))


_CAPITALISED, _STRONG_NAME = 1, 2


@functools.lru_cache(maxsize=262_144)
def _word(raw: str, lang: str) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...], int | None, int | None]:
    """What one word as written contributes: its names, each (kind, hash) — an acronym or
    letter-digit name (IRIS-T, F-16) is a name wherever it stands, a capitalised word when it
    does not start a sentence or is no function word — and the term hashes of its parts
    (Hawk-Flugabwehrraketen → names hawk, flugabwehrraketen; terms hawk, flugabwehrrakete)."""
    low = fold(raw)
    stop = _STOPWORDS.get(lang, frozenset())
    parts = raw.split("-")
    whole = len(parts) > 1 and any(len(p) < 3 or p.isdigit() for p in parts)  # IRIS-T, F-16, S-300
    names: list[tuple[int, int]] = []
    place = None
    for part in [raw] if whole or len(parts) == 1 else parts:
        if len(part) < 2 or not part[0].isupper():
            continue
        letters = [c for c in part if c.isalpha()]
        strong = (len(letters) >= 2 and all(c.isupper() for c in letters)) or any(c.isdigit() for c in part) or whole
        pl = fold(part)
        if not strong and (pl in stop or pl in _FUNCTION_WORDS or _number_word(pl, lang) is not None):
            continue
        key = skeleton(pl if whole else stem(pl, lang))
        if len(key) >= 2:
            names.append((_STRONG_NAME if strong else _CAPITALISED, _h("@" + key)))
        if place is None:
            place = place_of(pl)
    words = [p for p in low.split("-") if len(p) >= MIN_TERM_LEN and p not in stop and not p.isdigit()]
    if lang == "de":
        words += [fold(c) for p in raw.casefold().split("-") for c in compound_parts(p)]
    terms = tuple(_h(stem(p.replace("'", "").replace("\u2019", ""), lang)) for p in words)
    return tuple(names), terms, place, weekday_of(low)


# Capitalised only because they start a sentence, in the five languages.
_FUNCTION_WORDS = frozenset(fold(w) for w in (
    "the a an in on at of for to by as it its this that these those after before during while since "
    "der die das ein eine einen im in am an auf aus bei mit nach seit vom von vor zu zum zur über "
    "le la les un une des du de au aux en dans sur par pour avec après avant selon "
    "в во на у с со по от до за из при под над после для о об не но и а "
    "в у на з із зі по від до за при під над після для про не але і й а та").split())


def _value_key(value: float) -> int:
    return int(round(value * 100)) & 0xFFFFFFFFFFFF


def _add_value(values: set[int], value: float) -> None:
    if value >= 2 or value != int(value):
        values.add(_value_key(value))
