"""Tests for ccattr.categories: segmentation of clauses into categorized units."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ccattr.categories
from ccattr.categories import CATEGORIES, LEVELS, Unit, categorize, category_of, segment


def pairs(clause: str, level: str = "word") -> list[tuple[str, str]]:
    return [(u.text, u.category) for u in segment(clause, level)]


# (clause, expected (text, category) of every word-level unit)
WORD_CASES = [
    ("1.5 kPa", [("1.5", "number"), ("kPa", "unit")]),
    ("900-1200 mm.", [("900-1200", "number"), ("mm", "unit"), (".", "punct")]),
    (
        "an area of 0.9 m2",
        [("an", "function"), ("area", "entity"), ("of", "function"), ("0.9", "number"), ("m2", "unit")],
    ),
    ("a fall of 1:12", [("a", "function"), ("fall", "entity"), ("of", "function"), ("1:12", "number")]),
    ("1200mm wide", [("1200", "number"), ("mm", "unit"), ("wide", "entity")]),
    ("3 m high", [("3", "number"), ("m", "unit"), ("high", "entity")]),
    (
        "50% and 20°C",
        [("50", "number"), ("%", "unit"), ("and", "function"), ("20", "number"), ("°C", "unit")],
    ),
    ("0.2 L/s", [("0.2", "number"), ("L/s", "unit")]),
    ("three metres", [("three", "number"), ("metres", "unit")]),
    ("60 minutes", [("60", "number"), ("minutes", "unit")]),
    ("hours of darkness", [("hours", "entity"), ("of", "function"), ("darkness", "entity")]),
    ("see Table 1.2.", [("see", "entity"), ("Table", "rule_id"), ("1.2", "rule_id"), (".", "punct")]),
    ("the table below", [("the", "function"), ("table", "entity"), ("below", "function")]),
    ("G13/AS2 or C/AS1", [("G13/AS2", "rule_id"), ("or", "function"), ("C/AS1", "rule_id")]),
    ("No. 4", [("No.", "rule_id"), ("4", "rule_id")]),
    ("No person", [("No", "negation"), ("person", "entity")]),
    ("Clause D1.3.3;", [("Clause", "rule_id"), ("D1.3.3", "rule_id"), (";", "punct")]),
    ("NZS 4121", [("NZS", "rule_id"), ("4121", "rule_id")]),
    ("AS/NZS 3500.2", [("AS/NZS", "rule_id"), ("3500.2", "rule_id")]),
    ("Figure 3", [("Figure", "rule_id"), ("3", "rule_id")]),
    ("not less than", [("not", "comparator"), ("less", "comparator"), ("than", "comparator")]),
    ("no more than", [("no", "comparator"), ("more", "comparator"), ("than", "comparator")]),
    ("at least", [("at", "comparator"), ("least", "comparator")]),
    ("shall not", [("shall", "deontic"), ("not", "deontic")]),
    ("need not", [("need", "deontic"), ("not", "deontic")]),
    ("the need for", [("the", "function"), ("need", "entity"), ("for", "function")]),
    ("shall not exceed", [("shall", "deontic"), ("not", "comparator"), ("exceed", "comparator")]),
    ("is not permitted", [("is", "function"), ("not", "deontic"), ("permitted", "deontic")]),
    ("must", [("must", "deontic")]),
    ("may", [("may", "deontic")]),
    ("Doors must not", [("Doors", "entity"), ("must", "deontic"), ("not", "deontic")]),
    ("not", [("not", "negation")]),
    (
        "except where unless without",
        [("except", "negation"), ("where", "function"), ("unless", "negation"), ("without", "negation")],
    ),
    ("every each all any maximum", [(w, "comparator") for w in ["every", "each", "all", "any", "maximum"]]),
    ("4.2.3 The stair", [("4.2.3", "rule_id"), ("The", "function"), ("stair", "entity")]),
    ("C3.2.1 Where", [("C3.2.1", "rule_id"), ("Where", "function")]),
    ("4.2 The stair", [("4.2", "rule_id"), ("The", "function"), ("stair", "entity")]),
    ("1.5 m high", [("1.5", "number"), ("m", "unit"), ("high", "entity")]),
    (
        "(a) handrails, and",
        [
            ("(", "punct"),
            ("a", "function"),
            (")", "punct"),
            ("handrails", "entity"),
            (",", "punct"),
            ("and", "function"),
        ],
    ),
    (
        "“exit”—stairs…",
        [
            ("“", "punct"),
            ("exit", "entity"),
            ("”", "punct"),
            ("—", "punct"),
            ("stairs", "entity"),
            ("…", "punct"),
        ],
    ),
    (
        "e.g. the building's roof",
        [("e.g.", "function"), ("the", "function"), ("building's", "entity"), ("roof", "entity")],
    ),
    ("-5 °C", [("-5", "number"), ("°C", "unit")]),
    (
        "Tables 1.2 and 1.3",
        [("Tables", "rule_id"), ("1.2", "rule_id"), ("and", "function"), ("1.3", "rule_id")],
    ),
]


@pytest.mark.parametrize(("clause", "expected"), WORD_CASES)
def test_word_level(clause, expected):
    assert pairs(clause) == expected


# (clause, expected (text, category) of every span-level unit)
SPAN_CASES = [
    ("1.5 kPa", [("1.5 kPa", "number")]),
    ("900-1200 mm.", [("900-1200 mm", "number"), (".", "punct")]),
    ("0.9 m2", [("0.9 m2", "number")]),
    ("60 minutes", [("60 minutes", "number")]),
    ("5 per cent", [("5 per cent", "number")]),
    ("1200mm", [("1200mm", "number")]),
    ("Table 1.2", [("Table 1.2", "rule_id")]),
    ("Clause D1.3.3", [("Clause D1.3.3", "rule_id")]),
    ("Figure 3", [("Figure 3", "rule_id")]),
    ("NZS 4121", [("NZS 4121", "rule_id")]),
    ("AS/NZS 3500.2", [("AS/NZS 3500.2", "rule_id")]),
    ("BS EN 1364-1", [("BS EN 1364-1", "rule_id")]),
    ("No. 4", [("No. 4", "rule_id")]),
    ("not less than 1200 mm", [("not less than", "comparator"), ("1200 mm", "number")]),
    ("no more than", [("no more than", "comparator")]),
    ("at least", [("at least", "comparator")]),
    ("no steeper than 1:12", [("no steeper than", "comparator"), ("1:12", "number")]),
    ("wider than", [("wider than", "comparator")]),
    ("other than", [("other", "function"), ("than", "comparator")]),
    ("2 kW/m2", [("2 kW/m2", "number")]),
    ("25 µg/m3", [("25 µg/m3", "number")]),
    ("shall not", [("shall not", "deontic")]),
    ("need not", [("need not", "deontic")]),
    (
        "Stairs shall not exceed 1:12.",
        [
            ("Stairs", "entity"),
            ("shall", "deontic"),
            ("not exceed", "comparator"),
            ("1:12", "number"),
            (".", "punct"),
        ],
    ),
    (
        "D1.3.3 Handrails need not be provided to stairs with fewer than 3 risers, except where the stair "
        "serves an accessible route described in Table 4.1.",
        [
            ("D1.3.3", "rule_id"),
            ("Handrails", "entity"),
            ("need not", "deontic"),
            ("be", "function"),
            ("provided", "entity"),
            ("to", "function"),
            ("stairs", "entity"),
            ("with", "function"),
            ("fewer than", "comparator"),
            ("3", "number"),
            ("risers", "entity"),
            (",", "punct"),
            ("except", "negation"),
            ("where", "function"),
            ("the", "function"),
            ("stair", "entity"),
            ("serves", "entity"),
            ("an", "function"),
            ("accessible", "entity"),
            ("route", "entity"),
            ("described", "entity"),
            ("in", "function"),
            ("Table 4.1", "rule_id"),
            (".", "punct"),
        ],
    ),
]


@pytest.mark.parametrize(("clause", "expected"), SPAN_CASES)
def test_span_level(clause, expected):
    assert pairs(clause, "span") == expected


def test_span_keeps_inner_whitespace_verbatim():
    (unit,) = segment("1200\n  mm", "span")
    assert unit == Unit("1200\n  mm", 0, 9, "number")


@pytest.mark.parametrize(
    ("word", "category"),
    [
        ("1200", "number"),
        ("1.5", "number"),
        ("900-1200", "number"),
        ("1:12", "number"),
        ("1/2", "number"),
        ("three", "number"),
        ("mm", "unit"),
        ("m2", "unit"),
        ("m²", "unit"),
        ("kPa", "unit"),
        ("W/m2K", "unit"),
        ("lux", "unit"),
        ("%", "unit"),
        ("m", "entity"),  # a bare "m" is a unit only after a number
        ("4.2.3", "rule_id"),
        ("G13/AS2", "rule_id"),
        ("C/AS1", "rule_id"),
        ("D1.3.3", "rule_id"),
        ("Table 1.2", "rule_id"),
        ("shall", "deontic"),
        ("Must", "deontic"),
        ("required", "deontic"),
        ("shall not", "deontic"),
        ("not less than", "comparator"),
        ("every", "comparator"),
        ("not", "negation"),
        ("unless", "negation"),
        ("except", "negation"),
        ("stair", "entity"),
        ("the", "function"),
        ("where", "function"),
        (",", "punct"),
        ("1200 mm", "number"),
    ],
)
def test_category_of(word, category):
    assert category_of(word) == category


@pytest.mark.parametrize("text", ["", "  ", "mm.", "Table 1.2 and"])
def test_category_of_needs_exactly_one_unit(text):
    with pytest.raises(ValueError):
        category_of(text)


def test_categorize_is_segment():
    clause = "Every stair shall have a handrail."
    for level in LEVELS:
        assert categorize(clause, level) == segment(clause, level)


def test_bad_arguments():
    with pytest.raises(ValueError):
        segment("x", level="sentence")
    with pytest.raises(TypeError):
        segment(None)  # type: ignore[arg-type]


def test_doctests():
    result = doctest.testmod(ccattr.categories)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------------------------
# Invariants: spans reconstruct the text, do not overlap, cover every non-space character.


def check_invariants(clause: str) -> None:
    by_level = {level: segment(clause, level) for level in LEVELS}
    for units in by_level.values():
        covered = [False] * len(clause)
        last_end = 0
        for u in units:
            assert u.category in CATEGORIES
            assert u.text == clause[u.start : u.end]
            assert u.start < u.end and u.start >= last_end
            assert not u.text[0].isspace() and not u.text[-1].isspace()
            last_end = u.end
            covered[u.start : u.end] = [True] * (u.end - u.start)
        assert all(covered[i] for i, c in enumerate(clause) if not c.isspace())
    # every span is a run of whole word units
    word_bounds = {u.start for u in by_level["word"]}, {u.end for u in by_level["word"]}
    for u in by_level["span"]:
        assert u.start in word_bounds[0] and u.end in word_bounds[1]


CLAUSES = [clause for clause, _ in WORD_CASES + SPAN_CASES] + [
    "",
    "   \n\t ",
    "4.2.3 The clear width of an accessible route shall be not less than 1200 mm.",
    "Glazing in doors shall comply with NZS 4223.3 as referenced in Clause F2.3.1.",
    "((( ))) ... --- /// 1..2 1.2.3. 1:2:3 a/b/ /x x/ 12mm2 °",
]


@pytest.mark.parametrize("clause", CLAUSES)
def test_invariants_on_examples(clause):
    check_invariants(clause)


FUZZ = settings(max_examples=150, deadline=None, database=None)


@FUZZ
@given(st.text())
def test_invariants_on_arbitrary_text(clause):
    check_invariants(clause)


WORDS = st.sampled_from(
    [
        "1200",
        "mm",
        "1.5",
        "kPa",
        "900-1200",
        "1:12",
        "m",
        "m2",
        "Table",
        "1.2",
        "No.",
        "4",
        "not",
        "less",
        "than",
        "shall",
        "need",
        "may",
        "no",
        "more",
        "at",
        "least",
        "G13/AS2",
        "C/AS1",
        "NZS",
        "AS/NZS",
        "4121",
        "3500.2",
        "Clause",
        "D1.3.3",
        "4.2.3",
        "per",
        "cent",
        "except",
        "unless",
        "the",
        "stair",
        ",",
        ".",
        "(",
        ")",
        ";",
        "1200mm",
        "50%",
        "°C",
        "Tables",
        "and",
        "or",
        "to",
    ]
)


@FUZZ
@given(
    st.lists(WORDS, max_size=20), st.lists(st.sampled_from([" ", "", "\n", "  "]), min_size=20, max_size=20)
)
def test_invariants_on_clause_like_text(words, seps):
    check_invariants("".join(w + s for w, s in zip(words, seps, strict=False)))


@pytest.mark.parametrize("clause, expected", [
    ("Surface water shall be disposed of in accordance with Paragraph 4.2 of Acceptable Solution E1/AS1.",
     [("Paragraph 4.2", "rule_id"), ("E1/AS1", "rule_id")]),
    ("Flashings shall comply with Table 7.", [("Table 7", "rule_id")]),
    ("Drains shall comply with G12/AS2 and have a fall of 1:100.", [("G12/AS2", "rule_id"), ("1:100", "number")]),
    ("Relief valves shall comply with AS/NZS 3500.4 and NZS 3604.",
     [("AS/NZS 3500.4", "rule_id"), ("NZS 3604", "rule_id")]),
    ("as given in C/AS2 Table 3.2 and Figure 8 of G14/VM1",
     [("C/AS2", "rule_id"), ("Table 3.2", "rule_id"), ("Figure 8", "rule_id"), ("G14/VM1", "rule_id")]),
])
def test_nzbc_wording_rule_identifiers_and_ratios(clause, expected):
    """The NZ Building Code's way of citing (the published LRML set writes these as nzbc_e1as1_4.2,
    nzbc_e2as1_t7, 1/100 in its rules)."""
    assert [(u.text, u.category) for u in segment(clause, "span") if u.category in ("rule_id", "number")] == expected
