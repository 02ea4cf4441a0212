"""Number and identifier fidelity: did the number in the rule come from the number in the clause?

For every number (and every rule identifier) of a generated rule, the clause-unit x rule-token
map (:attr:`ccattr.attribution.ClauseAttribution.token_scores`) is summed over the rule tokens
that spell it; the clause unit with the largest score is the one the model leaned on to write
it. The item is *faithful* when that unit states the same value (numbers: any of the forms of
:func:`ccattr.notations.numbers.clause_values`) or names the same identifier. Items whose value
the clause never states (``has_source`` false: an invented or converted number) are listed but
left out of the rate, which asks "when the clause has the answer, does the model look there?".

Rule items come from the notation's tree (:class:`ccattr.notations.base.RuleNode` kinds
``number`` and ``identifier``), so this works for every notation the project reads; a rule that
does not parse still has its numbers found by pattern (kind ``number``, ``parsed`` false).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ccattr.notations import get as get_notation
from ccattr.notations.base import RuleSyntaxError
from ccattr.notations.numbers import clause_values, literal_value, same_value

#: Columns of :func:`fidelity_items`, one row per number or identifier of a generated rule.
ITEM_COLUMNS = ("clause_id", "kind", "item", "item_start", "item_end", "parsed", "has_source",
                "top_unit_index", "top_unit", "faithful")
#: Item kinds, and the per-clause rate column each one gives (:func:`clause_rates`).
KINDS = {"number": "number_fidelity", "identifier": "identifier_fidelity"}
_RULE_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])\d+(?:\.\d+)?(?:\s*[/:]\s*\d+(?:\.\d+)?)?%?(?![0-9A-Za-z_])")


def _key(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def rule_items(rule: str, notation: str) -> tuple[list[tuple[str, str, int, int]], bool]:
    """``([(kind, text, start, end)], parsed)``: the numbers and identifiers of ``rule``."""
    try:
        tree = get_notation(notation).parse(rule)
    except RuleSyntaxError:
        return [("number", m.group(), m.start(), m.end()) for m in _RULE_NUMBER.finditer(rule)], False
    return [(n.kind, rule[n.start:n.end], n.start, n.end) for n in tree.walk() if n.kind in KINDS], True


def _same(kind: str, item: str, unit_text: str) -> bool:
    if kind == "number":
        # A rule number as written ("0.05", "1/100"), else the numbers of the item ("1200 mm" in text).
        v = literal_value(item)
        values = {v} if v is not None else clause_values(item)
        return any(same_value(a, c) for a in values for c in clause_values(unit_text))
    a, b = _key(item), _key(unit_text)
    return bool(a) and bool(b) and (a == b or (min(len(a), len(b)) >= 2 and (a in b or b in a)))


def fidelity_items(res: Any, notation: str) -> list[dict[str, Any]]:
    """The fidelity rows (keys :data:`ITEM_COLUMNS`) of one :class:`ClauseAttribution`."""
    if res.token_scores is None or res.target_spans is None or not res.n_units or not res.target_text:
        return []
    items, parsed = rule_items(res.target_text, notation)
    spans = np.asarray(res.target_spans, dtype=np.int64).reshape(-1, 2)
    rows = []
    for kind, text, start, end in items:
        tokens = np.flatnonzero((spans[:, 0] < end) & (spans[:, 1] > start))
        if not len(tokens):
            continue
        scores = res.token_scores[:, tokens].sum(axis=1)
        top = int(np.argmax(scores))
        has_source = any(_same(kind, text, u.text) for u in res.units)
        rows.append({"clause_id": str(res.clause_id), "kind": kind, "item": text, "item_start": start,
                     "item_end": end, "parsed": parsed, "has_source": has_source, "top_unit_index": top,
                     "top_unit": res.units[top].text, "faithful": bool(_same(kind, text, res.units[top].text))})
    return rows


def items_frame(results: Sequence[Any], notation: str) -> pd.DataFrame:
    """:func:`fidelity_items` of many clauses as one table."""
    rows = [r for res in results for r in fidelity_items(res, notation)]
    return pd.DataFrame(rows, columns=list(ITEM_COLUMNS))


def clause_rates(items: pd.DataFrame, clause_ids: Sequence[str]) -> pd.DataFrame:
    """Per clause, the share of faithful items among those the clause has a source for, one
    column per kind (:data:`KINDS`); NaN where a clause has no such item."""
    out = pd.DataFrame({"clause_id": pd.Series([str(c) for c in clause_ids], dtype=object)})
    scored = items[items["has_source"].astype(bool)]
    for kind, col in KINDS.items():
        rate = scored[scored["kind"] == kind].groupby("clause_id")["faithful"].mean()
        out[col] = out["clause_id"].map(rate).astype(float)
    return out
