"""Cheaper estimators against exact leave-one-out, over the check_methods stage's tables (one row
per clause and method: ``spearman``, ``top_k_overlap``, ``top1_same`` with exact, ``seconds``).

* :func:`agreement_table`: per (method, strategy, scale), the clauses checked, the mean Spearman
  of the word scores with exact (percentile bootstrap CI resampling clauses), the mean top-k
  overlap, the top-1 rate, the seconds per clause of the method and of exact on the same clauses,
  and their ratio (how many times exact's cost);
* :func:`verdict_table`: the study's comparison (:func:`~ccattr.stats.comparison.run_comparison`)
  run on the check's clauses once with exact's scores and once with each method's; per claim and
  per test present on both sides (pairwise, divergence, trends), the two verdicts, their clause
  counts and whether the verdict changed. A check has few clauses, so most tests cannot run: the
  counts say so, and a claim that cannot be assessed says why.

Pooled over every model (:func:`compare_methods`), a model's clauses are not independent of the
other models' attributions of the same clause, so the pooled CI resamples clauses, each with all
its models' rows (as the fidelity rates resample clauses with all their items).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ccattr.config import EXACT_METHOD as EXACT
from ccattr.stats.labels import method_sort, n_params_of, scale_order, strategy_sort
from ccattr.stats.results import bootstrap_ci

AGREEMENT_COLUMNS = ["method", "n_samples", "strategy", "scale", "n_params", "clauses", "n_spearman",
                     "spearman", "ci_low", "ci_high", "top_k_overlap", "top1_same", "s_per_clause",
                     "exact_s_per_clause", "cost_ratio"]
#: ``kind``: claim, pairwise, divergence or trend; the keys of each kind are those of its table
#: (claim: ``claim``; pairwise: scale, metric, a, b; divergence: scale, a, b; trend: strategy,
#: category); ``n`` / ``n_method``: the clauses behind the test on each side.
VERDICT_COLUMNS = ["method", "kind", "claim", "scale", "metric", "category", "strategy", "a", "b", "n",
                   "n_method", "exact", "verdict", "changed"]
_KEYS = ["kind", "claim", "scale", "metric", "category", "strategy", "a", "b"]
#: Verdicts of a test or claim that did not run (:func:`ccattr.power.verdict`, :func:`~ccattr.stats.claims`).
UNTESTED = ("not tested", "not assessable")


@dataclass(frozen=True, eq=False)
class MethodCheck:
    """The check_methods stage's tables (every model, with ``n_params`` joined from the runs) and
    the settings they were made with (``method_check``)."""

    units: pd.DataFrame
    clauses: pd.DataFrame
    methods: tuple[str, ...]
    clauses_per_model: int | None = None
    n_samples: int | None = None

    @classmethod
    def from_params(cls, units: pd.DataFrame, clauses: pd.DataFrame, mc: Any) -> MethodCheck:
        """The rows of exact and of the methods ``mc`` (:class:`ccattr.config.MethodCheckParams`)
        lists: tables of a method dropped from params.yaml are left out, as models are."""
        keep = {EXACT, *mc.methods}
        pick = lambda df: df[df["method"].isin(keep)].reset_index(drop=True) if len(df) else df  # noqa: E731
        return cls(pick(units), pick(clauses), tuple(mc.methods), mc.clauses, mc.n_samples)


@dataclass(frozen=True, eq=False)
class MethodComparison:
    """What :func:`compare_methods` computes: the two tables and, per method, its figures pooled
    over every model's clauses (``pooled``)."""

    check: MethodCheck
    agreement: pd.DataFrame
    verdicts: pd.DataFrame
    pooled: dict[str, dict[str, Any]] = field(default_factory=dict)


def check_summary(methods: MethodComparison | None) -> dict[str, Any]:
    """``summary.json``'s ``method_check``: the settings and each method's pooled figures
    (:attr:`MethodComparison.pooled`); with no check given, the same keys, empty."""
    if methods is None:
        return {"methods": [], "clauses": None, "n_samples": None, "per_method": {}}
    return {"methods": list(methods.check.methods), "clauses": methods.check.clauses_per_model,
            "n_samples": methods.check.n_samples, "per_method": methods.pooled}


def _rate(values: pd.Series) -> np.ndarray:
    """A numeric or nullable boolean column as floats, missing as NaN."""
    return values.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _mean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.isfinite(x).any() else math.nan


def _pooled_mean(sums: np.ndarray, counts: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums.sum(axis=axis) / counts.sum(axis=axis)


def _cost(g: pd.DataFrame, exact: pd.DataFrame) -> tuple[float, float, float]:
    """Seconds per clause of the method (``g``) and of exact on the same clauses, and their ratio."""
    same = exact[exact["clause_id"].isin(g["clause_id"])]
    s, e = float(g["seconds"].mean()), float(same["seconds"].mean()) if len(same) else math.nan
    return s, e, (s / e if e > 0 else math.nan)


def agreement_table(clauses: pd.DataFrame, *, n_bootstrap: int = 1000, seed: int = 0,
                    confidence: float = 0.95) -> pd.DataFrame:
    """One row per (method, strategy, scale) of the check's clause table (:data:`AGREEMENT_COLUMNS`;
    exact, the reference, has none). The Spearman mean is over the clauses where it is defined
    (``n_spearman``; a constant score vector has none), with a percentile bootstrap CI."""
    rng = np.random.default_rng(seed)
    rows = []
    methods = [m for m in method_sort(clauses["method"].dropna().unique()) if m != EXACT] if len(clauses) else []
    for method in methods:
        g = clauses[clauses["method"] == method]
        for strategy in strategy_sort(g["strategy"].dropna().unique()):
            h = g[g["strategy"] == strategy]
            for scale in scale_order(h):
                cell = h[h["scale"] == scale]
                exact = clauses[(clauses["method"] == EXACT) & (clauses["strategy"] == strategy)
                                & (clauses["scale"] == scale)]
                rho = _rate(cell["spearman"])
                rho = rho[np.isfinite(rho)]
                lo, hi = bootstrap_ci((rho,), np.mean, rng, n_bootstrap, confidence)
                s, e, ratio = _cost(cell, exact)
                budget = cell["n_samples"].dropna()
                rows.append({"method": method, "n_samples": int(budget.iloc[0]) if len(budget) else None,
                             "strategy": strategy, "scale": scale, "n_params": n_params_of(cell, scale),
                             "clauses": int(cell["clause_id"].nunique()), "n_spearman": int(rho.size),
                             "spearman": float(rho.mean()) if rho.size else math.nan, "ci_low": lo, "ci_high": hi,
                             "top_k_overlap": _mean(_rate(cell["top_k_overlap"])),
                             "top1_same": _mean(_rate(cell["top1_same"])),
                             "s_per_clause": s, "exact_s_per_clause": e, "cost_ratio": ratio})
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


def _per_model(d: pd.DataFrame) -> pd.DataFrame:
    """``d`` with each clause id made unique per model, so that costs pair a model's clauses."""
    return d.assign(clause_id=d["strategy"].astype(str) + "/" + d["scale"].astype(str) + "/"
                    + d["clause_id"].astype(str))


def _pooled(clauses: pd.DataFrame, method: str, rng: np.random.Generator, n_bootstrap: int,
            confidence: float) -> dict[str, Any]:
    """A method's figures over every model's checked clauses; the CI resamples clause ids."""
    g = clauses[clauses["method"] == method].assign(_rho=lambda d: _rate(d["spearman"]))
    per = g.dropna(subset=["_rho"]).groupby("clause_id")["_rho"].agg(["sum", "count"])
    lo, hi = bootstrap_ci((per["sum"].to_numpy(dtype=float), per["count"].to_numpy(dtype=float)),
                          _pooled_mean, rng, n_bootstrap, confidence, paired=True)
    top1 = _rate(g["top1_same"])
    s, e, ratio = _cost(_per_model(g), _per_model(clauses[clauses["method"] == EXACT]))
    return {"attributions": len(g), "clauses": int(g["clause_id"].nunique()),
            "spearman": float(per["sum"].sum() / per["count"].sum()) if len(per) else math.nan,
            "ci_low": lo, "ci_high": hi, "top_k_overlap": _mean(_rate(g["top_k_overlap"])),
            "top1_same": int(np.nansum(top1)), "top1_scored": int(np.isfinite(top1).sum()),
            "top1_rate": _mean(top1), "s_per_clause": s, "exact_s_per_clause": e, "cost_ratio": ratio}


def _verdict_rows(tables: dict[str, pd.DataFrame], summary: dict[str, Any]) -> pd.DataFrame:
    """Every verdict of one comparison, keyed as :data:`VERDICT_COLUMNS` says."""
    rows = []
    for number, cl in sorted((summary.get("claims") or {}).items()):
        reason = f": {cl['reason']}" if cl.get("reason") else ""
        rows.append({"kind": "claim", "claim": number, "n": cl.get("n_min"), "verdict": cl["verdict"] + reason})
    for kind, name, keys in (("pairwise", "pairwise", ["scale", "metric", "a", "b"]),
                             ("divergence", "divergence", ["scale", "a", "b"]),
                             ("trend", "trends", ["strategy", "category"])):
        df = tables.get(name, pd.DataFrame())
        if len(df):
            rows += [{"kind": kind, **{k: r[k] for k in keys}, "n": r["n"], "verdict": r["verdict"]}
                     for r in df.to_dict(orient="records")]
    out = pd.DataFrame(rows, columns=[*_KEYS, "n", "verdict"])
    out[_KEYS] = out[_KEYS].astype(object).where(out[_KEYS].notna(), "").astype(str)
    return out


def verdict_table(units: pd.DataFrame, clauses: pd.DataFrame, eval_df: pd.DataFrame, params: Any = None,
                  top_k_fraction: float | None = None, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """The study's verdicts on the check's clauses with exact's scores and with each method's
    (:data:`VERDICT_COLUMNS`); only tests present on both sides. ``eval_df`` (the evaluation rows)
    is cut to the checked clauses, so claim 3 is read on the same clauses (it does not depend on
    the attribution method, so its verdict never changes)."""
    from ccattr.stats.comparison import run_comparison  # it calls this module

    if not len(clauses):
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    methods = [m for m in (methods or method_sort(clauses["method"].unique())) if m != EXACT]
    side = lambda df, m: df[df["method"] == m].drop(columns="method").reset_index(drop=True)  # noqa: E731
    checked = side(clauses, EXACT)[["strategy", "scale", "clause_id"]].astype(str).drop_duplicates()
    if len(eval_df) and {"strategy", "scale", "clause_id"} <= set(eval_df.columns):
        eval_df = eval_df.astype({"strategy": str, "scale": str, "clause_id": str}).merge(
            checked, on=["strategy", "scale", "clause_id"])

    def verdicts(m: str) -> pd.DataFrame:
        tables, summary = run_comparison(side(units, m), side(clauses, m), eval_df, params, top_k_fraction)
        return _verdict_rows(tables, summary)

    exact = verdicts(EXACT)
    parts = []
    for m in methods:
        both = exact.merge(verdicts(m), on=_KEYS, suffixes=("", "_method"))
        parts.append(both.rename(columns={"verdict": "exact", "verdict_method": "verdict"}).assign(
            method=m, changed=lambda d: d["exact"] != d["verdict"]))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=VERDICT_COLUMNS)
    return out.reindex(columns=VERDICT_COLUMNS).astype({"changed": bool})


def _tested(verdicts: pd.DataFrame) -> pd.Series:
    """Rows where at least one side's test or claim actually ran."""
    ran = lambda v: ~v.astype(str).str.startswith(UNTESTED)  # noqa: E731
    return ran(verdicts["exact"]) | ran(verdicts["verdict"])


def compare_methods(check: MethodCheck, eval_df: pd.DataFrame, params: Any = None,
                    top_k_fraction: float | None = None) -> MethodComparison:
    """:func:`agreement_table`, :func:`verdict_table` and each method's pooled figures (Spearman
    with a clause-resampling CI, top-k overlap, top-1 rate, costs, verdicts compared and changed).
    ``params``: :class:`ccattr.config.StatisticsParams` (defaults when None)."""
    if params is None:
        from ccattr.config import StatisticsParams

        params = StatisticsParams()
    conf = 1 - params.alpha
    clauses = check.clauses
    agreement = agreement_table(clauses, n_bootstrap=params.n_bootstrap, seed=params.seed, confidence=conf)
    verdicts = verdict_table(check.units, clauses, eval_df, params, top_k_fraction, check.methods)
    rng = np.random.default_rng(params.seed)
    pooled = {}
    present = set(clauses["method"]) if len(clauses) else set()
    for m in (m for m in check.methods if m in present):
        v = verdicts[verdicts["method"] == m]
        pooled[m] = {**_pooled(clauses, m, rng, params.n_bootstrap, conf),
                     "verdicts_compared": int(_tested(v).sum()), "verdicts_changed": int(v["changed"].sum())}
    return MethodComparison(check, agreement, verdicts, pooled)


#: The comparison run's MLflow metrics per method (``<name>.<method>``), from the pooled figures.
METRIC_NAMES = {"method_spearman": "spearman", "method_top1": "top1_rate", "method_cost_ratio": "cost_ratio",
                "method_verdicts_changed": "verdicts_changed"}


def method_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """``summary.json``'s ``method_check`` as MLflow metrics: :data:`METRIC_NAMES` per method,
    undefined ones (null) left out.

    >>> method_metrics({"per_method": {"lime": {"spearman": 0.4, "top1_rate": None, "cost_ratio": 1.5,
    ...                                         "verdicts_changed": 0}}})
    {'method_spearman.lime': 0.4, 'method_cost_ratio.lime': 1.5, 'method_verdicts_changed.lime': 0.0}
    """
    out = {}
    for method, pooled in (summary.get("per_method") or {}).items():
        for name, key in METRIC_NAMES.items():
            v = pooled.get(key)
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                out[f"{name}.{method}"] = float(v)
    return out


__all__ = ["AGREEMENT_COLUMNS", "EXACT", "METRIC_NAMES", "VERDICT_COLUMNS", "MethodCheck", "MethodComparison",
           "agreement_table", "compare_methods", "method_metrics", "verdict_table"]
