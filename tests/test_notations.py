"""Rule notations behind one interface: lrml, python, text (ccattr: tests/test_rules.py)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ccattr.notations
import ccattr.notations.lrml
import ccattr.notations.numbers
from ccattr import notations
from ccattr.notations.lrml import serialize
from ccattr.notations.numbers import clause_values, literal_value, missing_values

FIXTURE = Path(__file__).parent / "fixtures" / "nzbc_lrml_sample.csv"
LRML = notations.get("lrml")


def fixture_rows() -> pd.DataFrame:
    return pd.read_csv(FIXTURE, dtype=str, keep_default_na=False)


def test_registry_names_every_notation_and_refuses_others():
    assert set(notations.NOTATIONS) == {"ccattr", "lrml", "python", "text"}
    assert notations.get("lrml") is notations.get("lrml")
    with pytest.raises(ValueError, match="unknown notation 'xml'; expected one of ccattr, lrml, python, text"):
        notations.get("xml")
    for name, cls in notations.NOTATIONS.items():
        nota = notations.get(name)
        assert nota.name == name and isinstance(nota, cls) and nota.description


@pytest.mark.parametrize("module", [ccattr.notations, ccattr.notations.lrml, ccattr.notations.numbers])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0


def test_every_fixture_rule_parses_in_lrml():
    df = fixture_rows()
    assert len(df) >= 30
    for rule in df["lrml"]:
        tree = LRML.parse(rule)
        assert [t.label for t in tree.children] == ["if", "then"]
        assert serialize(tree) == rule  # the fixture is written without layout


def test_lrml_tree_leaves_numbers_identifiers_and_expressions():
    rule = ("if(and(is(gutter.type,internal),not(or(is(x,a),is(x,b))))),then(obligation(and("
            "asPer(gutter.size,nzbc_e1as1_t3),greaterThanEqual(gutter.slope,1/500),"
            "greaterThanEqual(pipe.diameter,90 mm),greaterThanEqual(x0,'0.6 * x1'))))")
    tree = LRML.parse(rule)
    kinds = {n.label: n.kind for n in tree.walk() if n.kind != "term"}
    assert kinds["gutter.type"] == "name" and kinds["nzbc_e1as1_t3"] == "identifier"
    assert kinds["1/500"] == "number" and kinds["90 mm"] == "name" and kinds["'0.6 * x1'"] == "expression"
    assert LRML.numbers(rule) == ["1/500", "90", "0.6"]
    assert LRML.identifiers(rule) == ["nzbc_e1as1_t3"]
    for node in tree.walk():  # spans point into the rule text
        if node.kind != "term" or node.label:
            assert rule[node.start:node.end].startswith(node.label.split("(")[0])


@pytest.mark.parametrize("rule, message", [
    ("if(a(b),then(c)", "unexpected end of rule (1 unclosed parenthesis) at column 16"),
    ("if(a(b)),then(c))", "unbalanced ')' at column 17"),
    ("if(a(,b))", "empty argument at column 6"),
    ("if(a('x)", "unterminated quoted expression at column 6"),
    ("350 mm(x)", "'350 mm' is not a term name"),
    ("a(b)c", "unexpected 'c' at column 5"),
    ("   ", "empty rule"),
])
def test_lrml_errors_carry_the_column(rule, message):
    with pytest.raises(notations.RuleSyntaxError) as err:
        LRML.parse(rule)
    assert err.value.reason.startswith(message)
    assert "^" in str(err.value)  # a caret under the column
    assert not LRML.is_valid(rule)


def test_lrml_vocabulary_is_open_but_counted():
    rule = "if(exist(drain)),then(obligation(frobnicate(drain,outlet)))"
    assert LRML.is_valid(rule)
    assert LRML.unknown_names(rule) == ["frobnicate"]
    assert LRML.unknown_names("if(exist(a)),then(obligation(has(a,b)))") == []


def test_lrml_canonical_form_ignores_layout_only():
    rule = "if(exist(gutter)),then(obligation(greaterThanEqual(gutter.slope,1/500)))"
    assert LRML.canonical(" if( exist( gutter ) ) ,\nthen(obligation(greaterThanEqual(gutter.slope , 1/500)))") == rule
    assert LRML.canonical(rule.replace("1/500", "1/200")) != rule
    assert LRML.canonical("if(is(x,350  mm))") == "if(is(x,350 mm))"


# A rule-like alphabet: the parser's own characters, names, numbers, quotes and spaces.
rule_text = st.lists(st.sampled_from(list("(),'. _/*abcxyzIT01579\n") + ["if", "then", "and", "mm"]),
                     max_size=60).map("".join) | st.text(max_size=40)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_text)
def test_lrml_parser_never_crashes_and_round_trips(text):
    try:
        tree = LRML.parse(text)
    except notations.RuleSyntaxError as err:
        assert 0 <= err.pos <= len(text) and err.column >= 1
        return
    again = LRML.parse(serialize(tree))
    assert serialize(again) == serialize(tree) == LRML.canonical(text)
    assert [(n.kind, " ".join(n.label.split())) for n in again.walk()] == \
        [(n.kind, " ".join(n.label.split())) for n in tree.walk()]


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.sampled_from(["a", "gutter.slope", "1/100", "0.9", "'0.05 * x1'", "nzbc_e2as1_t7"]),
                    lambda inner: st.builds(lambda n, args: f"{n}({','.join(args)})",
                                            st.sampled_from(["and", "or", "not", "is", "forEach"]),
                                            st.lists(inner, min_size=1, max_size=3)),
                    max_leaves=12))
def test_generated_lrml_terms_parse_and_round_trip(term):
    rule = f"if({term}),then(obligation({term}))" if "(" in term else f"if(is({term}))"
    assert serialize(LRML.parse(rule)) == rule


def test_number_equivalences_between_clause_and_rule():
    assert {0.05, 5.0} <= clause_values("no less than 5% of the floor area")
    assert {1.0, 100.0, 0.01} <= clause_values("a fall of 1:100") == clause_values("a fall of 1 in 100") | {1.0}
    assert 1200.0 in clause_values("a width of 1,200 mm") and 300.0 in clause_values("an area of 300m2")
    assert 2.0 in clause_values("two handrails") and 0.4 in clause_values("40 per cent")
    assert clause_values("G13/AS2 and E2/AS1") == {2.0, 1.0} - {2.0, 1.0}  # identifiers hold no number
    assert literal_value("1/100") == pytest.approx(0.01) and literal_value("5%") == pytest.approx(0.05)
    assert literal_value("-5") == 5 and literal_value("x0") is None
    assert missing_values(["0.05", "1/100", "300", "2"], "5% and 1:100 for 300 m2 over two floors") == []
    assert missing_values(["0.5", "300"], "5% of 30 m2") == ["0.5", "300"]


def test_lrml_numbers_check_knows_the_forms_the_clause_uses():
    clause = "Downpipes shall have an area of no less than 60% of the outlet and a fall of 1:500."
    rule = "if(exist(d)),then(obligation(and(greaterThanEqual(d.area,'0.6 * x0'),greaterThanEqual(d.fall,1/500))))"
    assert LRML.missing_numbers(rule, clause) == []
    assert LRML.missing_numbers(rule.replace("0.6", "0.7"), clause) == ["0.7"]


def test_python_notation():
    py = notations.get("python")
    rule = "if space.occupant_load > 50:\n    require(door.opens_towards == 'egress', ref='Table 3.2')"
    tree = py.parse(rule)
    assert py.numbers(rule) == ["50"] and py.identifiers(rule) == ["Table 3.2"]
    assert any(n.label == "require" for n in tree.walk())
    assert py.canonical("x  =  (1 +2)  # note") == py.canonical("x = 1 + 2")
    with pytest.raises(notations.RuleSyntaxError, match="at column"):
        py.parse("if x > :\n  pass")
    assert not py.is_valid("") and not py.is_valid(None)
    for node in tree.walk():
        assert 0 <= node.start <= node.end <= len(rule)


def test_text_notation_accepts_any_non_empty_text():
    text = notations.get("text")
    assert text.is_valid("Gutters shall fall 1:500 as per Table 3.") and not text.is_valid("  ")
    assert not text.has_grammar
    assert text.numbers("Gutters shall fall 1:500 as per Table 3.") == ["1:500"]
    assert text.identifiers("Gutters shall fall 1:500 as per Table 3.") == ["Table 3"]
    assert text.canonical(" a  b\n") == "a b"


def test_ccattr_notation_keeps_its_literal_numbers_check():
    cc = notations.get("ccattr")
    rule = "obligation(atom(rel(greaterThanOrEqual),expr(fun(share),var(openings)),data(0.05)))"
    assert cc.numbers(rule) == ["0.05"]
    assert cc.missing_numbers(rule, "openings of at least 5% of the floor") == ["0.05"]  # literal, as documented
    assert LRML.missing_numbers("if(a(b)),then(c(d,0.05))", "openings of at least 5% of the floor") == []
    assert cc.identifiers("obligation(atom(fun(complies_with),var(glazing),data(NZS 4223.3)))") == ["NZS 4223.3"]
