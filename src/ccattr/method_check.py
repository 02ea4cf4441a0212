"""Cheaper estimators against exact leave-one-out, clause by clause (the check_methods stage).

On each checked clause, exact leave-one-out and every estimator of ``method_check.methods``
(:mod:`ccattr.estimators`) score the same units for the same target, each call timed in the same
process (:func:`check_clauses`); :func:`agreement` says how alike an estimator ranks the clause's
words to exact. The compare stage pools the clauses (:mod:`ccattr.stats.methods`).

    >>> attributors = {"exact": exact, "lime": lime}              # doctest: +SKIP
    >>> units, clauses = check_clauses(attributors, rows, 0.2)    # doctest: +SKIP
    >>> clauses[["clause_id", "method", "seconds", "spearman", "top1_same"]]   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ccattr.attribution import CLAUSE_COLUMNS, LONG_COLUMNS, Attributor, ClauseAttribution, top_k_count
from ccattr.config import EXACT_METHOD as EXACT

#: Per-clause agreement with exact (:func:`agreement`).
AGREEMENT_COLUMNS = ("spearman", "top_k_overlap", "top1_same")
#: The check's unit table: the attribute stage's unit rows, each with the method that scored it.
UNIT_COLUMNS = (*LONG_COLUMNS, "method")
#: The check's clause table: the attribute stage's clause summary per (clause, method), the
#: estimator's budget (none for exact), the seconds the call took and the agreement with exact.
CHECK_CLAUSE_COLUMNS = (*CLAUSE_COLUMNS, "method", "n_samples", "seconds", *AGREEMENT_COLUMNS)


class Agreement(NamedTuple):
    spearman: float
    top_k_overlap: float
    top1_same: bool | None


def _ranks_units(scores: np.ndarray) -> bool:
    """Whether the |scores| single out any unit: not all zero, and not all equal (beyond one unit)."""
    a = np.abs(scores)
    return a.size > 0 and float(a.max()) > 0 and (a.size == 1 or float(np.ptp(a)) > 0)


def agreement(exact: Sequence[float], other: Sequence[float], top_k_fraction: float = 0.2) -> Agreement:
    """How alike ``other`` ranks a clause's units to ``exact`` (one raw score per unit, same order).

    * ``spearman``: Spearman's rank correlation of the raw (signed) scores
      (:func:`scipy.stats.spearmanr`); NaN with fewer than 2 units or when either side is
      constant (no ranking to compare).
    * ``top_k_overlap``: the share of exact's top k units that are also ``other``'s top k, with
      ``k = top_k_count(n, top_k_fraction)`` and units ranked by |score|, ties broken by unit
      order: the units the attribute stage's top-k share and faithfulness look at.
    * ``top1_same``: both put the same unit first (by |score|).

    The last two are NaN / None when either side's |scores| single out no unit (all zero, or all
    equal): a ranking made only of ties says nothing about the words.

    >>> a = agreement([3, 2, 1, 0.5, 0.1], [30, 20, 10, 5, 1])     # a planted ranking
    >>> round(a.spearman, 9), a.top_k_overlap, a.top1_same
    (1.0, 1.0, True)
    >>> a = agreement([3, 2, 1, 0.5, 0.1], [0.1, 0.5, 1, 2, 3])    # reversed
    >>> round(a.spearman, 9), a.top_k_overlap, a.top1_same
    (-1.0, 0.0, False)
    >>> agreement([1, 1, 1], [3, 2, 1])                           # exact ranks nothing
    Agreement(spearman=nan, top_k_overlap=nan, top1_same=None)
    """
    e, o = np.asarray(exact, dtype=float), np.asarray(other, dtype=float)
    if e.shape != o.shape or e.ndim != 1:
        raise ValueError(f"one score per unit on both sides: got shapes {e.shape} and {o.shape}")
    rho = math.nan
    if e.size >= 2 and np.ptp(e) > 0 and np.ptp(o) > 0:
        rho = float(spearmanr(e, o).statistic)
    if not (_ranks_units(e) and _ranks_units(o)):
        return Agreement(rho, math.nan, None)
    k = top_k_count(e.size, top_k_fraction)
    top_e = np.argsort(-np.abs(e), kind="stable")
    top_o = np.argsort(-np.abs(o), kind="stable")
    overlap = len(set(top_e[:k].tolist()) & set(top_o[:k].tolist())) / k
    return Agreement(rho, float(overlap), bool(top_e[0] == top_o[0]))


def check_frames(units: Sequence[pd.DataFrame], clauses: Sequence[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The check's two tables (:data:`UNIT_COLUMNS`, :data:`CHECK_CLAUSE_COLUMNS`) from unit
    frames and clause rows; with none, empty tables with those columns."""
    empty = ClauseAttribution("", [], np.zeros(0), np.zeros(0), *([math.nan] * 8)).to_frame()
    unit_df = pd.concat([*units] or [empty.assign(method=pd.Series(dtype=object))], ignore_index=True)
    clause_df = pd.DataFrame(list(clauses), columns=list(CHECK_CLAUSE_COLUMNS))
    clause_df = clause_df.astype({"clause_id": object, "method": object, "n_samples": "Int64",
                                  "seconds": float, "spearman": float, "top_k_overlap": float,
                                  "top1_same": "boolean"})
    return unit_df[list(UNIT_COLUMNS)], clause_df


def check_clauses(attributors: Mapping[str, Attributor], rows: Sequence[dict[str, Any]], top_k_fraction: float,
                  clock: Callable[[], float] = time.perf_counter) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attribute each row's clause with every attributor, timing each call; ``(units, clauses)``.

    ``attributors``: by method, :data:`EXACT` among them (each clause's agreement is measured
    against it); built with the same settings but ``method`` and ``faithfulness=False``, so a
    call's time is the method's cost alone. ``rows``: the evaluate stage's prediction rows
    (``id, clause, prediction, reference``). Seconds are wall-clock (``clock``) per call.
    """
    if EXACT not in attributors:
        raise ValueError(f"the check measures every method against {EXACT!r}; it is missing")
    order = [EXACT, *(m for m in attributors if m != EXACT)]
    if rows and len(order) > 1:
        # One-off costs kept off the clock: importing Captum and the sklearn its surrogate models
        # import at their first fit (KernelSHAP, LIME), and the process's first forward (kernel
        # selection, allocator), which exact, timed first, would pay.
        for module in ("captum.attr", "sklearn.linear_model", "sklearn.svm"):
            importlib.import_module(module)
        ref, first = attributors[EXACT], rows[0]
        ref.target_logprobs([first["clause"]], first["reference"] if ref.target == "reference" else first["prediction"])
    unit_parts, clause_rows = [], []
    for r in rows:
        timed: dict[str, tuple[ClauseAttribution, float]] = {}
        for method in order:
            start = clock()
            res = attributors[method].attribute(r["clause"], r["prediction"], r.get("reference"),
                                                clause_id=str(r["id"]))
            timed[method] = (res, clock() - start)
        exact = timed[EXACT][0].raw_scores
        for method, (res, seconds) in timed.items():
            unit_parts.append(res.to_frame().assign(method=method))
            clause_rows.append({**res.summary(), "method": method,
                                "n_samples": None if method == EXACT else attributors[method].n_samples,
                                "seconds": seconds, **agreement(exact, res.raw_scores, top_k_fraction)._asdict()})
    return check_frames(unit_parts, clause_rows)


def run_metrics(clauses: pd.DataFrame) -> dict[str, float]:
    """The check of one model as MLflow metrics, means over its clauses: ``check_<method>_spearman``,
    ``_top_k_overlap``, ``_top1_same`` (a rate) and ``_s_per_clause`` per estimator, and
    ``check_exact_s_per_clause``; undefined means (every clause NaN) are left out."""
    out: dict[str, float] = {}
    for method, g in clauses.groupby("method", sort=False):
        out[f"check_{method}_s_per_clause"] = float(g["seconds"].mean())
        if method == EXACT:
            continue
        for col in AGREEMENT_COLUMNS:
            out[f"check_{method}_{col}"] = mean_of(g[col])
    return {k: v for k, v in out.items() if not math.isnan(v)}


def mean_of(values: pd.Series) -> float:
    """Mean of a numeric or nullable boolean column (a rate), missing values left out; NaN when
    none is left."""
    x = values.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    return float(np.nanmean(x)) if np.isfinite(x).any() else math.nan


__all__ = ["AGREEMENT_COLUMNS", "CHECK_CLAUSE_COLUMNS", "EXACT", "UNIT_COLUMNS", "Agreement", "agreement",
           "check_clauses", "check_frames", "mean_of", "run_metrics"]
