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
from collections.abc import Mapping, Sequence
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


def fidelity_items(clause_id: str, units: Sequence[str], token_scores: np.ndarray,
                   spans: Sequence[tuple[int, int]], rule: str, notation: str) -> list[dict[str, Any]]:
    """The fidelity rows (keys :data:`ITEM_COLUMNS`) of one clause: its unit texts, its
    ``(n_units, n_tokens)`` map, the rule tokens' character spans and the rule."""
    if not len(units) or not rule or not len(spans):
        return []
    items, parsed = rule_items(rule, notation)
    sp = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    rows = []
    for kind, text, start, end in items:
        tokens = np.flatnonzero((sp[:, 0] < end) & (sp[:, 1] > start))
        if not len(tokens):
            continue
        top = int(np.argmax(np.asarray(token_scores)[:, tokens].sum(axis=1)))
        rows.append({"clause_id": str(clause_id), "kind": kind, "item": text, "item_start": start,
                     "item_end": end, "parsed": parsed, "has_source": any(_same(kind, text, u) for u in units),
                     "top_unit_index": top, "top_unit": units[top], "faithful": _same(kind, text, units[top])})
    return rows


def attribution_items(res: Any, notation: str) -> list[dict[str, Any]]:
    """:func:`fidelity_items` of one :class:`ccattr.attribution.ClauseAttribution` (none without a map)."""
    if res.token_scores is None or res.target_spans is None:
        return []
    return fidelity_items(res.clause_id, [u.text for u in res.units], res.token_scores, res.target_spans,
                          res.target_text or "", notation)


def items_frame(long_df: pd.DataFrame, map_df: pd.DataFrame, rules: Mapping[str, tuple[str, str]]) -> pd.DataFrame:
    """Fidelity rows of every clause of an attribution stage's tables: ``long_df`` (one row per
    unit), ``map_df`` (:data:`ccattr.attribution.MAP_COLUMNS`) and ``rules`` (clause id ->
    (generated rule, notation))."""
    rows: list[dict[str, Any]] = []
    units = {cid: g.sort_values("unit_index")["text"].tolist() for cid, g in long_df.groupby("clause_id", sort=False)}
    for cid, g in map_df.groupby("clause_id", sort=False):
        if cid not in rules or cid not in units:
            continue
        m = g.pivot(index="unit_index", columns="token_index", values="delta").sort_index().to_numpy(np.float64)
        tok = g[g["unit_index"] == g["unit_index"].min()].sort_values("token_index")
        spans = list(zip(tok["token_start"].astype(int), tok["token_end"].astype(int), strict=True))
        if spans and spans[0][0] < 0:  # the tokenizer gave no offsets
            continue
        rule, notation = rules[cid]
        rows += fidelity_items(cid, units[cid], m, spans, rule, notation)
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
