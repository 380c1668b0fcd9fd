"""Places and weekdays that tell two look-alike reports apart (pure data and lookups).

A strike on a substation in Kharkiv and one in Odesa, Finland joining Nato and Sweden joining it,
a toll on Saturday and a toll on Tuesday: the same words around another place or day name another
event. streams/core/storyterms.py finds these names in an item (through the same name keys as
every other name, so Kharkiv / Charkiw / Харків / Харькова all land on one place) and the story
tier counts "both name places, and none is shared" as evidence against joining.

The list is the places that the war's news names most (Ukrainian regions and cities, Russian border
regions, the capitals and countries of the allies), each in the spellings of the five languages;
Ukraine and Russia themselves are left out: nearly every item names them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from streams.core.text import fold

# One line a place: its spellings in en, de, fr, ru, uk (inflected forms fold through stems).
PLACES = """
# ukraine
kyiv kiev kiew kyjiw kiyv киев київ києва києві
kharkiv kharkov charkiw kharkiv харьков харків харкова харкові
odesa odessa одесса одеса
lviv lwiw lvov lemberg львов львів львова львові
dnipro dnipropetrovsk dnepr днепр дніпро днепропетровск дніпропетровськ
zaporizhzhia zaporizhia saporischschja zaporijjia запорожье запоріжжя
kherson cherson херсон
mykolaiv nikolaev mykolajiw mykolaïv николаев миколаїв миколаєва
sumy сумы суми
chernihiv tschernihiw tchernihiv чернигов чернігів чернігова
poltava poltawa полтава
donetsk donezk donetsk донецк донецьк
luhansk luhansk lougansk луганск луганськ
crimea krim crimée крым крим
sevastopol sewastopol sébastopol севастополь
mariupol marioupol мариуполь маріуполь
bakhmut bachmut бахмут
avdiivka awdijiwka avdiïvka авдеевка авдіївка
pokrovsk pokrowsk покровск покровськ
kramatorsk краматорск краматорськ
sloviansk slowjansk sloviansk славянск слов'янськ
vinnytsia winnyzja vinnytsia винница вінниця
zhytomyr schytomyr jytomyr житомир
rivne riwne rivne ровно рівне
lutsk luzk loutsk луцк луцьк
ternopil ternopil тернополь тернопіль
uzhhorod uschhorod oujhorod ужгород
chernivtsi czernowitz tchernivtsi черновцы чернівці
khmelnytskyi chmelnyzkyj khmelnytskyï хмельницкий хмельницький
cherkasy tscherkassy tcherkassy черкассы черкаси
shostka schostka chostka шостка
okhtyrka ochtyrka okhtyrka ахтырка охтирка
kryvyi krywyj kryvyï кривой кривий
stryi stryj stryï стрый стрий
# russia
kursk kursk курск
belgorod belgorod bielgorod белгород бєлгород
bryansk brjansk briansk брянск брянськ
moscow moskau moscou москва
ryazan rjasan riazan рязань
rostov rostow rostov ростов
krasnodar краснодар
novorossiysk noworossijsk novorossiïsk новороссийск новоросійськ
# abroad: a country and its capital are one place (Berlin sends = Germany sends)
brussels brüssel bruxelles брюссель брюссель
washington вашингтон вашингтон
mikkeli миккели міккелі
wroclaw breslau wrocław вроцлав
germany deutschland allemagne германия німеччина berlin берлин берлін
france frankreich франция франція paris париж
britain britannien bretagne британия британія london londres лондон
netherlands niederlande pays-bas нидерланды нідерланди hague haag haye гаага гаага
sweden schweden suède швеция швеція stockholm стокгольм
finland finnland finlande финляндия фінляндія helsinki helsinki хельсинки гельсінкі
norway norwegen norvège норвегия норвегія oslo осло
denmark dänemark danemark дания данія copenhagen kopenhagen copenhague копенгаген
estonia estland estonie эстония естонія tallinn таллин таллінн
latvia lettland lettonie латвия латвія riga рига рига
lithuania litauen lituanie литва литва vilnius wilna вильнюс вільнюс
poland polen pologne польша польща warsaw warschau varsovie варшава
hungary ungarn hongrie венгрия угорщина budapest будапешт
slovakia slowakei slovaquie словакия словаччина bratislava pressburg братислава
romania rumänien roumanie румыния румунія bucharest bukarest bucarest бухарест
moldova moldau moldavie молдова молдова chisinau chisinau chişinău кишинев кишинів
belarus belarus biélorussie белоруссия білорусь minsk минск мінськ
turkey türkei turquie турция туреччина ankara анкара
italy italien italie италия італія rome rom рим
spain spanien espagne испания іспанія madrid мадрид
georgia georgien géorgie грузия грузія tbilisi tiflis тбилиси тбілісі
iran иран іран
china chine китай
japan japon япония японія
canada kanada канада
"""

# Weekdays, Monday first; stems and lemmas of each language match (Montagmorgen, в понедельник).
WEEKDAYS = (
    "monday montag lundi понедельник понедельника понеділок понеділка",
    "tuesday dienstag mardi вторник вторника вівторок вівторка",
    "wednesday mittwoch mercredi среда среду среды середа середу",
    "thursday donnerstag jeudi четверг четверга четвер четверга",
    "friday freitag vendredi пятница пятницу пятницы п'ятниця п'ятницю п'ятниці",
    "saturday samstag sonnabend samedi суббота субботу субботы субота суботу суботи",
    "sunday sonntag dimanche воскресенье воскресенья неділя неділю неділі",
)


def _prefix(spelling: str) -> str:
    """How much of a spelling a form must start with: Cyrillic names change their last letters
    with case (Харків, Харкова), Latin ones gain an ending (Kyivs, Charkiws, Ukraine's)."""
    cyrillic = any("\u0400" <= ch <= "\u04ff" for ch in spelling)
    cut = 2 if cyrillic else 1
    return spelling if len(spelling) <= 4 else spelling[: max(4, len(spelling) - cut)]


def _rows(lines: str | tuple[str, ...]) -> list[str]:
    rows = lines.strip().splitlines() if isinstance(lines, str) else list(lines)
    return [r for r in rows if not r.startswith("#")]


def _kinds(lines: str) -> list[str]:
    """The section (ukraine, russia, abroad) of each place, in PLACES order."""
    kinds, kind = [], ""
    for r in lines.strip().splitlines():
        if r.startswith("#"):
            kind = r[1:].split(":")[0].strip()
        else:
            kinds.append(kind)
    return kinds


KINDS = _kinds(PLACES)


def kind_of(place: int) -> str:
    """Where a place is: "ukraine", "russia" or "abroad". Two reports conflict only on places of
    one kind (Kharkiv and Odesa; Finland and Sweden), not a city against a foreign country."""
    return KINDS[place] if 0 <= place < len(KINDS) else ""


def _table(lines: str | tuple[str, ...]) -> list[tuple[str, int, int]]:
    rows = _rows(lines)
    out = []
    for i, line in enumerate(rows):
        for spelling in line.split():
            s = fold(spelling)
            out.append((_prefix(s), len(s), i))
    return sorted(out, key=lambda t: -len(t[0]))


_PLACE_TABLE = _table(PLACES)


def _lookup(table: list[tuple[str, int, int]], word: str, slack: int) -> int | None:
    for prefix, length, ident in table:
        if word.startswith(prefix) and len(word) <= length + slack:
            return ident
    return None


@functools.lru_cache(maxsize=65536)
def place_of(word: str) -> int | None:
    """The place a folded name names (its number in PLACES), if any."""
    return _lookup(_PLACE_TABLE, word, 4)


_DAYS = {fold(spelling): i for i, line in enumerate(WEEKDAYS) for spelling in line.split()}
_DAY_PARTS = ("", "s", "morgen", "abend", "nacht", "mittag", "vormittag", "nachmittag", "abends", "morgens")


@functools.lru_cache(maxsize=65536)
def weekday_of(word: str) -> int | None:
    """The weekday (0 = Monday) a folded word names: its forms in the five languages, and German
    compounds (Montagmorgen, Freitagabend)."""
    day = _DAYS.get(word)
    if day is None and word[:2] in _STARTS:
        for spelling, i in _DAYS.items():
            if word.startswith(spelling) and word[len(spelling):] in _DAY_PARTS:
                return i
    return day


_STARTS = {d[:2] for d in _DAYS}


def places_conflict(a: Sequence[int], b: Sequence[int]) -> float:
    """1 when both name places of one kind (streams.core.places.kind_of: two Ukrainian cities,
    two foreign countries) and share none of that kind: a strike in Kharkiv is not one in Odesa,
    but a deal "for Ukraine" signed in Oslo and one "for Kyiv" by Norway may be one story."""
    if not a or not b:
        return 0.0
    by_kind: dict[str, tuple[set[int], set[int]]] = {}
    for p in a:
        by_kind.setdefault(kind_of(p), (set(), set()))[0].add(p)
    for p in b:
        by_kind.setdefault(kind_of(p), (set(), set()))[1].add(p)
    return 1.0 if any(x and y and not x & y for x, y in by_kind.values()) else 0.0
