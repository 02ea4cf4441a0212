"""The example clauses (the compare stage's ``examples.csv``: where the strategies disagree most,
a typical clause, where they agree most): per clause a word heat map per strategy, the map of
one model's clause units x rule tokens grouped into the rule's parts, and the rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ccattr.report.figures import Figure, Figures, fig_clause_heatmap, fig_rule_map
from ccattr.report.inputs import Attributions
from ccattr.report.rule_parts import TokenGroups, group_rule_tokens
from ccattr.stats.labels import strategy_label, strategy_sort


def _rows(df: pd.DataFrame, **keys: str) -> pd.DataFrame:
    """The rows of ``df`` whose columns equal ``keys`` (none when a column is missing)."""
    if df.empty or any(k not in df.columns for k in keys):
        return df.iloc[0:0]
    mask = pd.Series(True, index=df.index)
    for k, v in keys.items():
        mask &= df[k].astype(str) == v
    return df[mask]


def _spells(rule: Any, tokens: Sequence[str], spans: Sequence[tuple[int, int]]) -> bool:
    """Whether the map's tokens are those of ``rule``: they join to it (up to whitespace), or
    most of them are the text at their span (byte-level pieces of non-ASCII text decode to
    replacement characters)."""
    if not isinstance(rule, str) or not rule:
        return False
    if "".join(tokens).split() == rule.split():
        return True
    at = [rule[a:b].strip() == t.strip() for t, (a, b) in zip(tokens, spans, strict=True) if 0 <= a <= b]
    return bool(at) and max(b for _, b in spans) <= len(rule) and sum(at) >= 0.8 * len(tokens)


def _rule_map(cid: str, scale: str, where: str, name: str, attr: Attributions, predictions: pd.DataFrame,
              default_notation: str | None, figures: Figures) -> dict[str, Any]:
    """The map of the FFT model (else the first strategy with one) for the clause at ``scale``;
    the tokens grouped by the parts of the rule the map's tokens spell (the generated rule, or
    the reference when the attribution targeted it)."""
    maps = _rows(attr.maps, clause_id=cid, scale=scale)
    if maps.empty:
        return {"rule_map": None, "map_note": "the attribute stage wrote no clause-unit x rule-token "
                "map for this clause (the semantic target has none)"}
    strategy = strategy_sort(maps["strategy"].unique())[0]
    cells = maps[maps["strategy"] == strategy]
    first = cells[cells["unit_index"] == cells["unit_index"].min()].sort_values("token_index")
    tokens = first["token"].astype(str).tolist()
    spans = list(zip(first["token_start"].astype(int), first["token_end"].astype(int), strict=True))
    pred = _rows(predictions, clause_id=cid, scale=scale, strategy=strategy)
    record = pred.iloc[0].to_dict() if len(pred) else {}
    rule = next((r for r in (record.get("prediction"), record.get("reference")) if _spells(r, tokens, spans)),
                None)
    notation = record.get("notation") if isinstance(record.get("notation"), str) else default_notation
    if rule is None:
        groups = TokenGroups([("rule", 0, len(tokens))], [None] * len(tokens), "the map's tokens do not "
                             "spell this model's rule in results/eval: tokens not grouped")
    else:
        groups = group_rule_tokens(rule, spans, notation)
    units = _rows(attr.units, clause_id=cid, scale=scale, strategy=strategy)
    texts = dict(zip(units["unit_index"].astype(int), units["text"].astype(str), strict=True)) \
        if "text" in units.columns else {}
    n_units = int(cells["unit_index"].max()) + 1
    label = strategy_label(strategy)
    fig = fig_rule_map(cells, [texts.get(i, f"u{i}") for i in range(n_units)], tokens, groups,
                       f"{label}: clause {cid} at {where}, clause units \u00d7 rule tokens")
    return {"rule_map": figures.add(name, fig, f"rule map of clause {cid}"), "map_model": label,
            "map_note": groups.note, "notation": notation or "?"}


def _rules(predictions: pd.DataFrame, cid: str, scale: str) -> list[tuple[str, str, str]]:
    """``(heading, text, similarity)`` rows: the clause, its reference rule and each strategy's
    generated rule."""
    e = _rows(predictions, clause_id=cid, scale=scale)
    if e.empty:
        return []
    first = e.iloc[0]
    heads = (("Clause", "clause"), ("Reference rule", "reference"))
    rows = [(head, str(first[key]), "") for head, key in heads if key in e.columns]
    order = strategy_sort(e["strategy"].unique())
    for _, r in e.sort_values("strategy", key=lambda s: s.map(order.index)).iterrows():
        sim = r.get("similarity")
        rows.append((strategy_label(r["strategy"]), str(r.get("prediction", "")),
                     f"{float(sim):.2f}" if sim is not None and pd.notna(sim) else ""))
    return rows


def examples_context(examples: pd.DataFrame, attr: Attributions, predictions: pd.DataFrame,
                     figures: Figures, scale_labels: Mapping[str, str],
                     default_notation: str | None) -> list[dict[str, Any]]:
    """One entry per row of ``examples.csv``: figures drawn into ``figures``, texts for the page."""
    out = []
    for k, ex in enumerate(examples.to_dict(orient="records"), start=1):
        cid, scale = str(ex["clause_id"]), str(ex["scale"])
        where = scale_labels.get(scale, scale)
        units = _rows(attr.units, clause_id=cid, scale=scale)
        strategies = strategy_sort(units["strategy"].unique()) if len(units) else []
        scores = _rows(attr.clauses, clause_id=cid, scale=scale)
        entropy = dict(zip(scores["strategy"], pd.to_numeric(scores["entropy"], errors="coerce"),
                           strict=True)) if "entropy" in scores.columns else {}
        heat: Figure | None = figures.add(f"heatmap_{k}", fig_clause_heatmap(
            attr.units, cid, scale, strategies, f"Clause {cid} at {where}", entropy),
            f"word attributions for clause {cid}") if strategies else None
        why = ex.get("why")
        out.append({"clause_id": cid, "scale": where, "why": why if isinstance(why, str) else "",
                    "mean_jsd": f"{float(ex['mean_jsd']):.3f}", "heatmap": heat,
                    "heatmap_name": f"heatmap_{k}", "rule_map_name": f"rulemap_{k}",
                    "rules": _rules(predictions, cid, scale), "map_model": "", "notation": "",
                    **_rule_map(cid, scale, where, f"rulemap_{k}", attr, predictions,
                                default_notation, figures)})
    return out
