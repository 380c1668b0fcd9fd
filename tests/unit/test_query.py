"""The rule keyword query language."""

from __future__ import annotations

import pytest

from alerts.query import QueryError, item_fields, parse

TITLE = "Germany sends a second Patriot battery to Ukraine"
SUMMARY = "The Patriot system will protect Kyiv's energy infrastructure from Russian missiles this winter."


@pytest.mark.parametrize(("query", "expected"), [
    ("patriot", True),
    ("PATRIOT battery", True),                       # implicit AND, case folded
    ("patriot AND tanks", False),
    ("patriot OR tanks", True),
    ("NOT patriot", False),
    ("tanks OR NOT quarterback", True),
    ('"second patriot battery"', True),              # phrase
    ('"patriot second"', False),
    ("title:winter", False),                         # field scoping
    ("summary:winter", True),
    ('title:"patriot battery" AND summary:kyiv', True),
    ("infrastruct*", True),                          # prefix
    ("infrastruct", False),
    ("patriot NEAR/2 battery", True),
    ("battery NEAR/2 patriot", True),                # either order
    ("germany NEAR/2 battery", False),               # 4 words apart
    ("(patriot OR tanks) AND NOT (quarterback OR nfl)", True),
    ("missiles NEAR/3 winter", True),
    ("title:germany NEAR/1 sends", True),
    ("kyiv's", True),                                # apostrophes split words, as in tagging
])
def test_queries(query: str, expected: bool) -> None:
    assert parse(query)(item_fields(TITLE, SUMMARY)) is expected


@pytest.mark.parametrize(("query", "message"), [
    ("", "empty query at column 1"),
    ("(patriot", "missing ')' at column 9"),
    ("patriot)", "unexpected ) at column 8"),
    ("patriot AND", "expected a word, a phrase or '(' at column 12"),
    ("patriot NEAR/3", "NEAR/n needs a word or phrase on both sides at column 15"),
    ("patriot NEAR/3 (system AND battery)", "NEAR/n (…) takes words or phrases joined by OR, then ')' at column 24"),
    ("patriot NEAR/0 system", "NEAR/ needs a distance of 1 to 100 words, such as NEAR/5, got 'NEAR/0' at column 9"),
    ("OR patriot", "unexpected OR at column 1"),
    ('"unclosed phrase', "unexpected '\"' at column 1"),
])
def test_bad_queries_say_where(query: str, message: str) -> None:
    with pytest.raises(QueryError) as err:
        parse(query)
    assert str(err.value) == message
