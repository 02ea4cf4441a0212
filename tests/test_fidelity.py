"""ccattr.fidelity: does the top-attributed clause unit of a rule's number (identifier) state it?"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ccattr.attribution import ClauseAttribution, make_units
from ccattr.fidelity import ITEM_COLUMNS, attribution_items, clause_rates, items_frame, rule_items

CLAUSE = "D1.1.1 Every building to which NZS 4121 applies shall have a route 1200 mm wide."
RULE = ("if(atom(fun(subject_to),var(building),data(NZS 4121))),"
        "then(obligation(atom(rel(greaterThanOrEqual),expr(fun(width),var(route)),data(1200 mm))))")


def _tokens(rule: str) -> list[tuple[int, int]]:
    """Stand-in tokenizer spans: runs of letters, digits or single other characters."""
    import re

    return [m.span() for m in re.finditer(r"[A-Za-z]+|\d+|\S", rule)]


def _attribution(pick: dict[str, str]) -> ClauseAttribution:
    """A clause attribution whose map sends each rule item's tokens to the unit ``pick[item]``."""
    units = make_units(CLAUSE)
    spans = _tokens(RULE)
    m = np.zeros((len(units), len(spans)))
    for _, text, start, end in rule_items(RULE, "ccattr")[0]:
        u = next(i for i, x in enumerate(units) if x.text == pick[text])
        for t, (a, b) in enumerate(spans):
            if a < end and b > start:
                m[u, t] = 1.0
    raw = m.sum(axis=1)
    return ClauseAttribution(CLAUSE, units, raw, raw, 0.0, *([float("nan")] * 7), clause_id="c1",
                             target_text=RULE, token_scores=m, target_spans=spans,
                             target_tokens=[RULE[a:b] for a, b in spans])


def test_rule_items_come_from_the_notation_tree():
    items, parsed = rule_items(RULE, "ccattr")
    assert parsed
    assert [(k, t) for k, t, _, _ in items] == [("identifier", "NZS 4121"), ("number", "1200")]
    # A rule that does not parse still has its numbers, by pattern.
    items, parsed = rule_items(RULE[:-3], "ccattr")
    assert not parsed and [t for _, t, _, _ in items] == ["4121", "1200"]


@pytest.mark.parametrize("notation, rule, want", [
    ("lrml", "obligation(atom(rel(greaterThanOrEqual),expr(fun(width),var(stair)),data(1200 mm)))", ["1200"]),
    ("python", "def check(stair):\n    return stair.width >= 1200", ["1200"]),
    ("text", "The stair width must be at least 1200 mm.", ["1200 mm"]),
])
def test_rule_items_for_every_notation(notation, rule, want):
    items, _ = rule_items(rule, notation)
    assert [t for k, t, _, _ in items if k == "number"] == want
    clause = "Stairs shall be at least 1200 mm wide."
    units = make_units(clause)
    spans = [(s, e) for _, _, s, e in items]
    m = np.zeros((len(units), len(spans)))
    m[[u.text for u in units].index("1200"), :] = 1.0
    res = ClauseAttribution(clause, units, m.sum(1), m.sum(1), 0.0, *([float("nan")] * 7), target_text=rule,
                            token_scores=m, target_spans=spans, target_tokens=[rule[a:b] for a, b in spans])
    assert [r["faithful"] for r in attribution_items(res, notation)] == [True]


def test_fidelity_hits_and_misses():
    right = attribution_items(_attribution({"NZS 4121": "4121", "1200": "1200"}), "ccattr")
    assert [(r["kind"], r["item"], r["top_unit"], r["faithful"], r["has_source"]) for r in right] == [
        ("identifier", "NZS 4121", "4121", True, True), ("number", "1200", "1200", True, True)]
    wrong = attribution_items(_attribution({"NZS 4121": "building", "1200": "wide"}), "ccattr")
    assert [r["faithful"] for r in wrong] == [False, False]
    res = _attribution({"NZS 4121": "4121", "1200": "wide"})
    df = items_frame(res.to_frame(), res.map_frame(), {"c1": (RULE, "ccattr")})
    assert df.to_dict("records") == attribution_items(res, "ccattr")  # from the stored tables, the same
    assert tuple(df.columns) == ITEM_COLUMNS
    rates = clause_rates(df, ["c1", "c2"])
    assert rates.loc[0, "number_fidelity"] == 0.0 and rates.loc[0, "identifier_fidelity"] == 1.0
    assert np.isnan(rates.loc[1, "number_fidelity"])  # no items: no rate


def test_items_without_a_source_in_the_clause_are_not_rated():
    res = _attribution({"NZS 4121": "4121", "1200": "1200"})
    res.clause = res.clause.replace("1200", "900")
    res.units = make_units(res.clause)
    items = pd.DataFrame(attribution_items(res, "ccattr"), columns=list(ITEM_COLUMNS))
    assert not items.loc[items["kind"] == "number", "has_source"].any()
    assert np.isnan(clause_rates(items, ["c1"]).loc[0, "number_fidelity"])


def test_a_real_attribution_gives_items(tokenizer):
    from conftest import make_tiny_model

    from ccattr.attribution import Attributor, PromptTemplate

    att = Attributor(make_tiny_model(tokenizer), tokenizer, PromptTemplate(tokenizer), faithfulness=False)
    res = att.attribute(CLAUSE, RULE, clause_id="c1")
    rows = attribution_items(res, "ccattr")
    assert [r["item"] for r in rows] == ["NZS 4121", "1200"]
    assert all(0 <= r["top_unit_index"] < res.n_units for r in rows)
