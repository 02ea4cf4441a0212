"""Number and identifier fidelity, claim 2's mechanism: when the clause states the number (names
the identifier) the rule writes, is the clause word the attribution map ties to it that number?

The attribute stage scores each item (:mod:`ccattr.fidelity`); here, per (strategy, scale, kind):

* :func:`fidelity_rates`: the share of faithful items, pooled over the clause's items, with a
  percentile bootstrap CI that resamples *clauses* (a clause's items share one attribution, so
  they are not independent);
* strategies compared on the per-clause rate with the focus machinery
  (:func:`~ccattr.stats.focus.compare_strategies`: Friedman / Wilcoxon, clauses as blocks);
* scale trends of the per-clause rate with the trend machinery
  (:func:`~ccattr.stats.scale.scale_trends`: Page's test, Spearman rho; one Holm family).

A clause enters a kind's tests only where it has a scorable item of that kind under every model
compared (its rate is NaN otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ccattr.fidelity import KINDS
from ccattr.stats.focus import StrategyComparison, compare_strategies
from ccattr.stats.labels import n_params_of, scale_order, strategy_sort
from ccattr.stats.results import bootstrap_ci
from ccattr.stats.scale import CategoryShares, ScaleTrend, scale_trends

#: The per-clause rate column of each item kind, as the attribute stage's clause table names it.
METRICS = tuple(KINDS.values())
RATE_COLUMNS = ["strategy", "scale", "n_params", "kind", "n_clauses", "n_items", "rate", "ci_low",
                "ci_high"]


@dataclass(frozen=True, eq=False)
class Fidelity:
    """Everything :func:`compare_fidelity` computes: rates, strategy tests and scale trends."""

    rates: pd.DataFrame
    """:data:`RATE_COLUMNS`, one row per (strategy, scale, kind) with scorable items."""
    strategy_tests: tuple[StrategyComparison, ...]
    trends: tuple[ScaleTrend, ...]


def _pooled_rate(faithful: np.ndarray, items: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return faithful.sum(axis=axis) / items.sum(axis=axis)


def fidelity_rates(items: pd.DataFrame, *, n_bootstrap: int = 1000, seed: int = 0,
                   confidence: float = 0.95) -> pd.DataFrame:
    """Share of faithful items per (strategy, scale, kind), among the items whose value the clause
    states (``has_source``), with a clause-resampling bootstrap CI.

    ``items`` is the attribute stage's fidelity table (:data:`ccattr.fidelity.ITEM_COLUMNS` plus
    ``strategy, scale, n_params``)."""
    rng = np.random.default_rng(seed)
    rows = []
    scored = items[items["has_source"].astype(bool)] if len(items) else items
    for strategy in strategy_sort(scored["strategy"].dropna().unique()) if len(scored) else []:
        g = scored[scored["strategy"] == strategy]
        for scale in scale_order(g):
            h = g[g["scale"] == scale]
            for kind in KINDS:
                per = h[h["kind"] == kind].groupby("clause_id")["faithful"].agg(["sum", "count"])
                if per.empty:
                    continue
                k, m = per["sum"].to_numpy(dtype=float), per["count"].to_numpy(dtype=float)
                lo, hi = bootstrap_ci((k, m), _pooled_rate, rng, n_bootstrap, confidence, paired=True)
                rows.append({"strategy": strategy, "scale": scale, "n_params": n_params_of(h, scale),
                             "kind": kind, "n_clauses": len(per), "n_items": int(m.sum()),
                             "rate": float(k.sum() / m.sum()), "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows, columns=RATE_COLUMNS)


def _per_clause(clause_df: pd.DataFrame) -> pd.DataFrame:
    """The per-clause rates in the layout of :attr:`CategoryShares.per_clause` (``category`` =
    kind, ``share`` = rate), so that the trend machinery reads them as it reads shares."""
    parts = []
    for kind, col in KINDS.items():
        if col not in clause_df.columns:
            continue
        d = clause_df.dropna(subset=[col])
        parts.append(pd.DataFrame({"strategy": d["strategy"], "scale": d["scale"],
                                   "n_params": d["n_params"], "clause_id": d["clause_id"],
                                   "category": kind, "share": d[col].astype(float),
                                   "has_category": True}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["strategy", "scale", "n_params", "clause_id", "category", "share", "has_category"])


def compare_fidelity(items: pd.DataFrame, clause_df: pd.DataFrame, alpha: float = 0.05, *,
             n_bootstrap: int = 1000, seed: int = 0,
             metrics: Sequence[str] = METRICS) -> Fidelity:
    """Rates (:func:`fidelity_rates`), strategy tests per scale and metric, and scale trends per
    strategy and kind (one Holm family, ``fidelity``), each test with its power and verdict."""
    rates = fidelity_rates(items, n_bootstrap=n_bootstrap, seed=seed, confidence=1 - alpha)
    metrics = [m for m in metrics if m in clause_df.columns and clause_df[m].notna().any()]
    tests = tuple(compare_strategies(clause_df, m, scale, alpha, n_bootstrap=n_bootstrap, seed=seed)
                  for scale in (scale_order(clause_df) if metrics else []) for m in metrics)
    per_clause = _per_clause(clause_df)
    kinds = [k for k in KINDS if (per_clause["category"] == k).any()]
    trends = tuple(scale_trends(clause_df, CategoryShares(per_clause, pd.DataFrame()), kinds, alpha,
                                n_bootstrap=n_bootstrap, seed=seed,
                                holm_family=lambda _: "fidelity")) if kinds else ()
    return Fidelity(rates, tests, trends)


__all__ = ["METRICS", "Fidelity", "compare_fidelity", "fidelity_rates"]
