"""Tests for ccattr.notations.ccattr: the rule-notation parser, numbers and structural view."""

from __future__ import annotations

import doctest
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ccattr.notations.ccattr
from ccattr.notations.ccattr import (
    RELATIONS,
    And,
    Atom,
    Data,
    Expr,
    Not,
    Rule,
    RuleSyntaxError,
    Var,
    is_valid_rule,
    missing_numbers,
    parse_rule,
    rule_atoms,
    rule_numbers,
    rule_structure,
)

ROOT = Path(__file__).resolve().parents[1]

# The examples of the notation spec: (clause, rule).
SPEC_EXAMPLES = [
    (
        "4.2.3 The clear width of an accessible route shall be not less than 1200 mm.",
        "obligation(atom(rel(greaterThanOrEqual),expr(fun(clear_width),var(accessible_route)),data(1200 mm)))",
    ),
    (
        "C3.2.1 Where a building has more than 3 storeys, every exit stair shall have a fire resistance "
        "rating of at least 60 minutes.",
        "if(atom(rel(greaterThan),expr(fun(storey_count),var(building)),data(3))),then(obligation(atom("
        "rel(greaterThanOrEqual),expr(fun(fire_resistance_rating),var(exit_stair)),data(60 min))))",
    ),
    (
        "D1.3.3 Handrails need not be provided to stairs with fewer than 3 risers, except where the stair "
        "serves an accessible route described in Table 4.1.",
        "if(and(atom(rel(lessThan),expr(fun(riser_count),var(stair)),data(3)),not(atom(fun(serves),"
        "var(stair),data(accessible route))))),then(permission(not(atom(fun(has),var(stair),data(handrail)))))",
    ),
    (
        "G13.4 Sanitary fixtures shall not discharge directly into a stormwater drain.",
        "prohibition(atom(fun(discharges_into),var(sanitary_fixture),data(stormwater drain)))",
    ),
    (
        "Glazing in doors shall comply with NZS 4223.3 as referenced in Clause F2.3.1.",
        "obligation(atom(fun(complies_with),var(door_glazing),data(NZS 4223.3)))",
    ),
]

VALID = [rule for _, rule in SPEC_EXAMPLES] + [
    # whitespace and newlines between tokens
    " obligation ( atom ( rel ( equal ) , var ( x ) , data ( 2 ) ) ) \n",
    "if(\n  atom(fun(is_a),var(building),data(residential))\n),\nthen(\n  permission(atom(fun(has),var(building)))\n)",
    # every relation, or/and with more than two parts, nested expr, atom without terms
    *(f"obligation(atom(rel({r}),var(a),data(1)))" for r in sorted(RELATIONS)),
    "permission(or(atom(fun(a)),atom(fun(b)),atom(fun(c))))",
    "obligation(and(atom(fun(a)),not(not(atom(fun(b)))),or(atom(fun(c)),atom(fun(d)))))",
    "obligation(atom(rel(lessThan),expr(fun(ratio),expr(fun(height),var(riser)),var(going)),data(1:12)))",
    # keywords are fine as names, values may contain keywords, slashes, dots, colons, symbols
    "obligation(atom(fun(and),var(if),data(not obligation)))",
    "obligation(atom(fun(complies_with),var(drain),data(G13/AS2)))",
    "obligation(atom(rel(greaterThanOrEqual),expr(fun(u_value),var(wall)),data(0.3 W/m²K)))",
    "obligation(atom(rel(lessThanOrEqual),expr(fun(temperature),var(water)),data(-5 °C)))",
    "obligation(atom(fun(flag),var(x),data(true)))",
]


@pytest.mark.parametrize("rule", VALID)
def test_valid_rules_parse(rule):
    tree = parse_rule(rule)
    assert tree.data in ("implication", "obligation", "permission", "prohibition")
    assert is_valid_rule(rule)


# (rule, words the message must contain, column of the error)
INVALID = [
    ("", ["empty rule"], 1),
    ("  \n ", ["empty rule"], 1),
    ("must(atom(fun(has),var(stair)))", ["unknown operator 'must'", "'obligation'", "'permission'"], 1),
    ("obligations(atom(fun(a)))", ["unknown operator 'obligations'", "'obligation'"], 1),
    ("obligation(atomic(fun(a)))", ["unknown operator 'atomic'", "'atom'"], 12),
    ("if(atom(fun(a))),then(atom(fun(b)))", ["unknown operator 'atom'", "'obligation'"], 23),
    ("obligation(atom(fun(a),data()))", ["empty data() value"], 29),
    ("obligation(atom(fun(a),data(   )))", ["empty data() value"], 32),
    ("obligation(atom(fun(a))", ["unexpected end of rule", "')'"], 24),
    ("obligation(atom(fun(a),data(1 mm", ["unexpected end of rule", "')'"], 33),
    ("obligation(", ["unexpected end of rule", "'atom'"], 12),
    ("obligation(atom(fun(a))))", ["unexpected ')'", "end of rule"], 25),
    ("obligation(atom(fun(a))) extra", ["unexpected 'extra'", "end of rule"], 26),
    ("obligation(atom(fun(a)));", ["unexpected ';'", "end of rule"], 25),
    ("obligation(atom(rel(bigger),data(1)))", ["unknown relation 'bigger'", "greaterThan"], 21),
    ("obligation(and(atom(fun(a))))", ["unexpected ')'", "','"], 28),
    ("obligation(or())", ["unexpected ')'"], 15),
    ("obligation(atom(fun(clear width)))", ["unexpected 'width'", "')'"], 27),
    ("obligation(atom(fun(1x)))", ["unexpected '1'", "a name"], 21),
    ("obligation(atom(var(x)))", ["unknown operator 'var'", "'fun'", "'rel'"], 17),
    ("obligation(atom(fun(a),data(x(y))))", ["unexpected '('", "')'"], 30),
    ("obligation(atom(fun(a),data(a,b)))", ["unexpected ','", "')'"], 30),
    ("obligation(atom(fun(a),expr(fun(f))))", ["unexpected ')'", "','"], 35),
    ("obligation(atom(fun(a),\n  data(1),,))", ["column 11 of line 2", "'data'"], 11),
    ("permission(atom(fun(a)),atom(fun(b)))", ["unexpected ','"], 24),
]


@pytest.mark.parametrize(("rule", "needles", "column"), INVALID)
def test_invalid_rules_raise_clear_error(rule, needles, column):
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(rule)
    err = info.value
    message = str(err)
    for needle in needles:
        assert needle in message
    assert err.column == column
    assert f"column {column}" in message or err.reason == "empty rule"
    # the snippet shows the offending line with a caret under the error column
    snippet_line, caret_line = message.splitlines()[-2:]
    assert caret_line.strip() == "^"
    assert not is_valid_rule(rule)
    # no lark internals leak
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    assert "lark" not in message and "Token(" not in message
    assert isinstance(err, ValueError)


def test_caret_points_at_error_in_long_rule():
    rule = (
        "obligation(and(" + ",".join(f"atom(fun(f{i}),var(x))" for i in range(20)) + ",atom(fun(oops x)))))"
    )
    err = pytest.raises(RuleSyntaxError, parse_rule, rule).value
    snippet_line, caret_line = str(err).splitlines()[-2:]
    assert snippet_line[caret_line.index("^")] == "x"


def test_non_string_is_type_error():
    with pytest.raises(TypeError):
        parse_rule(None)  # type: ignore[arg-type]


def test_parser_is_built_once():
    assert ccattr.notations.ccattr._parser() is ccattr.notations.ccattr._parser()


def test_data_value_keeps_inner_spaces():
    tree = parse_rule("obligation(atom(fun(a),data(  1200 mm )))")
    (data,) = tree.find_data("data")
    assert data.children[0] == "1200 mm"


@pytest.mark.parametrize(
    ("rule", "numbers"),
    [
        (SPEC_EXAMPLES[0][1], ["1200"]),
        (SPEC_EXAMPLES[1][1], ["3", "60"]),
        (SPEC_EXAMPLES[2][1], ["3"]),
        (SPEC_EXAMPLES[3][1], []),
        (SPEC_EXAMPLES[4][1], ["4223.3"]),
        ("obligation(atom(rel(lessThanOrEqual),var(g),data(1:40)))", ["1", "40"]),
        ("obligation(atom(rel(equal),var(w),data(900-1200 mm)))", ["900", "1200"]),
        ("obligation(atom(rel(equal),var(a),data(0.9 m2)))", ["0.9"]),
        ("obligation(atom(rel(equal),var(a),data(1.5 kPa)))", ["1.5"]),
        ("obligation(atom(fun(complies_with),var(a),data(C/AS1)))", []),
        ("obligation(atom(fun(complies_with),var(a),data(Clause D1.3.3)))", []),
        ("obligation(atom(fun(complies_with),var(a),data(Table 1.2)))", ["1.2"]),
        ("obligation(atom(fun(complies_with),var(a),data(AS/NZS 3500.2)))", ["3500.2"]),
        ("obligation(atom(rel(lessThan),var(t),data(-5 °C)))", ["5"]),
        ("obligation(atom(rel(equal),expr(fun(f),data(2),data(3)),data(2)))", ["2", "3", "2"]),
        ("obligation(atom(fun(has),var(stair2),data(handrail)))", []),  # names are not data
    ],
)
def test_rule_numbers(rule, numbers):
    assert rule_numbers(rule) == numbers
    assert rule_numbers(parse_rule(rule)) == numbers


@pytest.mark.parametrize(("clause", "rule"), SPEC_EXAMPLES)
def test_spec_examples_are_consistent(clause, rule):
    assert missing_numbers(rule, clause) == []


@pytest.mark.parametrize(
    ("rule_value", "clause", "missing"),
    [
        ("1200 mm", "not less than 1200 mm.", []),
        ("1200 mm", "not less than 12000 mm", ["1200"]),
        ("3", "4.2.3 Stairs", ["3"]),  # part of a clause number is not the number 3
        ("3", "300 mm", ["3"]),
        ("1.2", "see Table 1.2.", []),
        ("1.2", "see Table 1.25", ["1.2"]),
        ("1:12", "a gradient of 1:12", []),
        ("1:40", "a fall of 1 in 40", []),
        ("60 min", "at least 60 minutes", []),
        ("90 min", "at least 60 minutes", ["90"]),
    ],
)
def test_missing_numbers(rule_value, clause, missing):
    rule = f"obligation(atom(rel(equal),var(x),data({rule_value})))"
    assert missing_numbers(rule, clause) == missing


def test_rule_structure_of_spec_example():
    rule = rule_structure(SPEC_EXAMPLES[2][1])
    stair = Var("stair")
    assert rule == Rule(
        deontic="permission",
        consequent=Not(Atom("fun", "has", (stair, Data("handrail")))),
        condition=And(
            (
                Atom("rel", "lessThan", (Expr("riser_count", (stair,)), Data("3"))),
                Not(Atom("fun", "serves", (stair, Data("accessible route")))),
            )
        ),
    )
    assert len(rule.conditions) == 2
    assert [a.name for a in rule_atoms(rule)] == ["lessThan", "serves", "has"]


@pytest.mark.parametrize(("_clause", "rule"), SPEC_EXAMPLES)
def test_structure_ignores_whitespace(_clause, rule):
    spaced = re.sub(r"([(),])", r" \1\n ", rule)
    assert rule_structure(spaced) == rule_structure(rule)
    assert hash(rule_structure(spaced)) == hash(rule_structure(rule))


@pytest.mark.parametrize(
    ("rule", "deontic", "n_conditions"),
    [
        (SPEC_EXAMPLES[0][1], "obligation", 0),
        (SPEC_EXAMPLES[1][1], "obligation", 1),
        (SPEC_EXAMPLES[2][1], "permission", 2),
        (SPEC_EXAMPLES[3][1], "prohibition", 0),
    ],
)
def test_deontic_kind_and_conditions(rule, deontic, n_conditions):
    structure = rule_structure(rule)
    assert structure.deontic == deontic
    assert len(structure.conditions) == n_conditions
    assert (structure.condition is None) == (n_conditions == 0)


def test_doctests():
    result = doctest.testmod(ccattr.notations.ccattr)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------------------------
# Property-based tests

NAMES = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("abcxyz_"),
    st.text(alphabet="abcxyz_019", max_size=6),
)
VALUES = st.text(alphabet="abAB019 ./:%-°", min_size=1, max_size=12).map(lambda v: v.strip() or "0")
TERMS = st.recursive(
    st.one_of(NAMES.map(lambda n: f"var({n})"), VALUES.map(lambda v: f"data({v})")),
    lambda inner: st.tuples(NAMES, st.lists(inner, min_size=1, max_size=3)).map(
        lambda t: f"expr(fun({t[0]}),{','.join(t[1])})"
    ),
    max_leaves=4,
)
ATOMS = st.one_of(
    st.tuples(st.sampled_from(sorted(RELATIONS)).map(lambda r: f"rel({r})"), st.lists(TERMS, max_size=3)),
    st.tuples(NAMES.map(lambda n: f"fun({n})"), st.lists(TERMS, max_size=3)),
).map(lambda t: "atom(" + ",".join([t[0], *t[1]]) + ")")
FORMULAS = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        inner.map(lambda f: f"not({f})"),
        st.tuples(st.sampled_from(["and", "or"]), st.lists(inner, min_size=2, max_size=3)).map(
            lambda t: f"{t[0]}({','.join(t[1])})"
        ),
    ),
    max_leaves=5,
)
DEONTICS = st.tuples(st.sampled_from(["obligation", "permission", "prohibition"]), FORMULAS).map(
    lambda t: f"{t[0]}({t[1]})"
)
RULES = st.one_of(DEONTICS, st.tuples(FORMULAS, DEONTICS).map(lambda t: f"if({t[0]}),then({t[1]})"))

FUZZ = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_RULES = settings(FUZZ, max_examples=50)


@FUZZ_RULES
@given(RULES)
def test_generated_rules_parse(rule):
    structure = rule_structure(rule)
    assert structure.deontic in ("obligation", "permission", "prohibition")
    assert len(rule_atoms(structure)) >= 1
    values = re.findall(r"data\(([^()]*)\)", rule)
    assert rule_numbers(rule) == [
        n for v in values for n in re.findall(r"(?<![A-Za-z0-9.])[0-9]+(?:\.[0-9]+)*", v)
    ]


def _only_syntax_errors(text):
    try:
        parse_rule(text)
    except RuleSyntaxError as err:
        assert str(err)
        assert err.column >= 1 and err.line >= 1
        assert 0 <= err.pos <= len(text)


@FUZZ
@given(st.text())
def test_arbitrary_text_gives_only_syntax_errors(text):
    _only_syntax_errors(text)


@FUZZ
@given(
    st.text(
        alphabet="(),  \nifthenobligationpermissionprohibitionandornotatomrelfunvardataexpr1x", max_size=80
    )
)
def test_notation_like_text_gives_only_syntax_errors(text):
    _only_syntax_errors(text)


@FUZZ_RULES
@given(RULES, st.data())
def test_mutated_rules_give_only_syntax_errors(rule, data):
    i = data.draw(st.integers(0, len(rule)))
    j = data.draw(st.integers(i, min(len(rule), i + 3)))
    insert = data.draw(st.text(alphabet="(),a1 \n", max_size=2))
    _only_syntax_errors(rule[:i] + insert + rule[j:])


# --------------------------------------------------------------------------------------------
# The corpus (written by another part of the project; may be absent or partial)

CORPUS_FILES = sorted((ROOT / "data" / "corpus").glob("*.jsonl"))
CLAUSE_KEYS = ("clause", "clause_text", "text", "source", "input")
RULE_KEYS = ("rule", "rule_text", "target", "output")


def _corpus_records(path: Path):
    """(line number, clause, rule) for each record with a clause and a rule.

    A file may still be being written: an undecodable *last* line is ignored.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                continue
            raise
        if not isinstance(record, dict):
            continue
        clause = next((record[k] for k in CLAUSE_KEYS if isinstance(record.get(k), str)), None)
        rule = next((record[k] for k in RULE_KEYS if isinstance(record.get(k), str)), None)
        if clause is not None and rule is not None:
            yield number, clause, rule


@pytest.mark.parametrize(
    "path",
    CORPUS_FILES or [pytest.param(None, marks=pytest.mark.skip(reason="no data/corpus/*.jsonl yet"))],
    ids=lambda p: p.name if p else "none",
)
def test_corpus_rules_parse_and_numbers_appear_in_clause(path):
    problems = []
    for number, clause, rule in _corpus_records(path):
        try:
            missing = missing_numbers(rule, clause)
        except RuleSyntaxError as err:
            problems.append(f"{path.name}:{number}: {err.reason}")
            continue
        if missing:
            problems.append(f"{path.name}:{number}: numbers {missing} of the rule are not in the clause")
    assert not problems, f"{len(problems)} bad corpus record(s):\n" + "\n".join(problems[:50])


# --------------------------------------------------------------------------------------------
# The documentation stays in sync with the code

DOC = ROOT / "docs" / "rule-notation.md"


@pytest.mark.skipif(not DOC.exists(), reason="docs/rule-notation.md missing")
def test_doc_has_the_grammar_and_real_error_messages():
    text = DOC.read_text(encoding="utf-8")
    assert ccattr.notations.ccattr.GRAMMAR.strip() in text
    block = text.split("### Errors", 1)[1].split("```\n", 2)[1]
    lines = block.splitlines()
    assert len(lines) % 3 == 0 and lines
    for i in range(0, len(lines), 3):
        reason, snippet, caret = lines[i : i + 3]
        err = pytest.raises(RuleSyntaxError, parse_rule, snippet.strip()).value
        assert str(err) == "\n".join([reason, snippet, caret])
