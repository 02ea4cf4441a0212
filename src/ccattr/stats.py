"""Statistics behind the study's three claims, computed on whatever corpus was run.

The claims, each supported or refuted by the numbers, never assumed:

1. **Focus** - full fine-tuning (FFT) gives attribution patterns that *differ* from LoRA / QLoRA
   (:func:`distribution_divergence`) and are *more focused* (:func:`compare_strategies` on the
   per-clause entropy, Gini and top-k share).
2. **Scale** - as models grow, more attribution goes to numeric constraints and rule
   identifiers (:func:`category_shares`, :func:`scale_trend`).
3. **Plateau** - rule-quality gains (similarity by default, ``statistics.quality_metric``)
   flatten beyond some scale (:func:`plateau`).

:func:`run_comparison` runs all of them over the pipeline's tables and returns tables plus a
JSON-able summary; :func:`findings` turns the summary into plain sentences.

Conventions (as in :mod:`scipy.stats`): every test returns the number of independent units it
used (``n``: clauses), its statistic, its p-value (Holm-adjusted where a family of tests is
corrected, in ``p_holm``), an effect size and a confidence interval for it. Confidence
intervals are percentile bootstraps that resample *clauses* (the independent unit: every model
sees the same test clauses), at level ``1 - alpha`` unless stated. Inputs too small or
degenerate to test give NaN with a ``note`` saying why, never an exception.

Input tables (see the data contracts): the attribution LONG table (one row per clause x unit:
``clause_id, unit_index, category, norm_score, strategy, scale, n_params, run_id``), the
per-clause attribution table (``clause_id, entropy, gini, top_k_share, strategy, scale,
n_params, run_id``) and the per-clause evaluation table (``clause_id`` or ``id``,
``similarity, strategy, scale, n_params, run_id``; :func:`load_eval` builds it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as st
from scipy.spatial.distance import jensenshannon

from ccattr import power
from ccattr.metrics import CORPUS_METRICS, QUALITY_LABELS
from ccattr.tables import table_files

STRATEGY_ORDER = ("fft", "lora", "qlora", "hybrid")
STRATEGY_LABELS = {"fft": "FFT", "lora": "LoRA", "qlora": "QLoRA", "hybrid": "Hybrid"}
METRICS = ("entropy", "gini", "top_k_share")
METRIC_LABELS = {"entropy": "normalized entropy", "gini": "Gini coefficient",
                 "top_k_share": "top-k share"}
METRIC_SHORT = {"entropy": "entropy", "gini": "Gini coefficient", "top_k_share": "top-k share"}
METRIC_DIRECTION = {"entropy": -1, "gini": 1, "top_k_share": 1}
"""Sign of a change that means *more concentrated* attribution (lower entropy = more focused)."""
CATEGORIES = ("number", "unit", "rule_id", "deontic", "comparator", "negation", "entity",
              "function", "punct")
KEY_CATEGORIES = ("number", "rule_id", "unit", "deontic")
CLAIM2_CATEGORIES = ("number", "rule_id")
CATEGORY_LABELS = {"number": "numbers", "unit": "units of measure", "rule_id": "rule identifiers",
                   "deontic": "deontic words (shall, must, may)", "comparator": "comparators",
                   "negation": "negations", "entity": "entities", "function": "function words",
                   "punct": "punctuation"}


# --------------------------------------------------------------------------- formatting


def human_count(n: float | int | None) -> str:
    """Parameter count in human form: ``63_000_000 -> '63M'``, ``1_711_376_384 -> '1.71B'``."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "?"
    n = float(n)
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            v = n / div
            return (f"{v:.3g}" if v < 100 else f"{v:.0f}") + suffix
    return f"{n:.0f}"


def scale_label(scale: str, n_params: float | int | None) -> str:
    """``'smollm2-l8 (63M)'``: the scale's name plus its parameter count."""
    return f"{scale} ({human_count(n_params)})"


def strategy_label(strategy: str) -> str:
    return STRATEGY_LABELS.get(strategy, strategy)


def format_p(p: float | None) -> str:
    """``'< 0.001'``, ``'0.0496'`` (3 significant digits below 0.1, so 0.0496 never reads 0.05), ``'0.41'``."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    if p < 0.001:
        return "< 0.001"
    if p < 0.1:
        return f"{p:.3g}"
    return f"{p:.2f}"


def _p_eq(p: float | None) -> str:
    s = format_p(p)
    return s if s.startswith("<") or s == "n/a" else f"= {s}"


# --------------------------------------------------------------------------- small pieces


def holm(pvalues: Iterable[float]) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values (family-wise error control).

    ``p_(i) * (m - i + 1)`` for the i-th smallest, made monotone and capped at 1; NaN entries
    are ignored (they do not count in ``m``) and stay NaN. Reject where adjusted p < alpha.

    >>> holm([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
    [0.03, 0.06, 0.06, 0.02]
    """
    p = np.asarray(list(pvalues), dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m:
        order = ok[np.argsort(p[ok], kind="stable")]
        out[order] = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    return out


def _rank_biserial_rows(d: np.ndarray) -> np.ndarray:
    """Matched-pairs rank-biserial correlation of each row of differences ``d`` (B x n)."""
    d = np.atleast_2d(np.asarray(d, dtype=float))
    nonzero = d != 0
    ranks = st.rankdata(np.abs(d), axis=1)
    # zeros rank lowest; dropping them (Wilcoxon's "wilcox" zero method) shifts the others down
    ranks = np.where(nonzero, ranks - (~nonzero).sum(axis=1, keepdims=True), 0.0)
    t_plus = np.where(d > 0, ranks, 0.0).sum(axis=1)
    t_minus = np.where(d < 0, ranks, 0.0).sum(axis=1)
    total = t_plus + t_minus
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (t_plus - t_minus) / total, np.nan)


def rank_biserial(x: Sequence[float], y: Sequence[float]) -> float:
    """Matched-pairs rank-biserial correlation r of ``x - y`` (Kerby 2014), in [-1, 1].

    ``r = (T+ - T-) / (T+ + T-)`` with T+/T- the sums of the signed ranks of the non-zero
    differences (the Wilcoxon signed-rank statistic); r > 0 means ``x`` tends to exceed ``y``,
    r = 1 means every non-zero difference is positive. NaN when all differences are zero.

    >>> rank_biserial([2, 3, 4, 5], [1, 1, 1, 9])   # ranks 1, 2, 3 positive; 4 negative
    0.2
    """
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    return float(_rank_biserial_rows(d[None, :])[0])


def _ci(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    s = np.asarray(samples, dtype=float)
    s = s[~np.isnan(s)]
    if s.size == 0:
        return (math.nan, math.nan)
    lo, hi = np.percentile(s, [50 * (1 - confidence), 50 * (1 + confidence)])
    return (float(lo), float(hi))


def _boot_idx(rng: np.random.Generator, n: int, n_bootstrap: int) -> np.ndarray:
    return rng.integers(0, n, size=(n_bootstrap, n))


def _kendall_w_rows(rank_sums: np.ndarray, tie_sums: np.ndarray, n: int, k: int) -> np.ndarray:
    """Kendall's W = Friedman chi2 / (n (k - 1)), tie-corrected as in scipy's Friedman test."""
    chi2 = 12.0 / (n * k * (k + 1)) * (rank_sums ** 2).sum(axis=-1) - 3.0 * n * (k + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = 1.0 - tie_sums / (n * k * (k * k - 1))
        return np.where(c > 0, chi2 / c / (n * (k - 1)), np.nan)


def _strategy_sort(names: Iterable[str]) -> list[str]:
    names = set(names)
    return [s for s in STRATEGY_ORDER if s in names] + sorted(names - set(STRATEGY_ORDER))


def _scale_order(df: pd.DataFrame) -> list[str]:
    """Scales ascending by parameter count (ties by name)."""
    sizes = df.groupby("scale", dropna=False)["n_params"].first()
    return sorted(sizes.index, key=lambda s: (float(sizes[s]), s))


def _n_params(df: pd.DataFrame, scale: str) -> int | None:
    v = df.loc[df["scale"] == scale, "n_params"]
    return int(v.iloc[0]) if len(v) and pd.notna(v.iloc[0]) else None


def _run_list(df: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Sorted ``(strategy, scale, run_id)`` triples present in ``df``."""
    if "run_id" not in df.columns or not len(df):
        return []
    cols = [c for c in ("strategy", "scale", "n_params", "run_id") if c in df.columns]
    seen = df[cols].drop_duplicates().dropna(subset=["run_id"]).itertuples(index=False, name=None)
    order = {s: i for i, s in enumerate(STRATEGY_ORDER)}

    def key(t: tuple) -> tuple:
        size = float(t[2]) if len(t) == 4 and pd.notna(t[2]) else 0.0
        return (order.get(t[0], 99), str(t[0]), size, str(t[1]))

    return [(str(t[0]), str(t[1]), str(t[-1])) for t in sorted(seen, key=key)]


def _fmt_runs(runs: Iterable[tuple[str, str, str]], strategies: Iterable[str] | None = None) -> str:
    keep = None if strategies is None else set(strategies)
    return ";".join(f"{s}-{c}:{r}" for s, c, r in runs if keep is None or s in keep)


def _run_ids(df: pd.DataFrame, mask: pd.Series | None = None) -> str:
    """``'fft-s1:abc;lora-s1:def'``: the MLflow run behind each (strategy, scale) of the rows."""
    if "run_id" not in df.columns or not len(df):
        return ""
    return _fmt_runs(_run_list(df if mask is None else df[mask]))


def parse_run_ids(value: Any) -> list[tuple[str, str]]:
    """Inverse of the ``run_ids`` column: ``[(model_name, run_id), ...]``."""
    if not isinstance(value, str) or not value:
        return []
    out = []
    for part in value.split(";"):
        name, _, rid = part.rpartition(":")
        if rid:
            out.append((name, rid))
    return out


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(obj) else float(obj)
    if obj is pd.NA or obj is pd.NaT:
        return None
    return obj


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return _nan_to_none(df.astype(object).where(df.notna(), None).to_dict(orient="records"))


# --------------------------------------------------------------------------- claim 1: focus


@dataclass(frozen=True, eq=False)
class StrategyComparison:
    """Result of :func:`compare_strategies` (one scale, one metric)."""

    scale: str
    n_params: int | None
    metric: str
    strategies: tuple[str, ...]
    n: int
    """Clauses present (non-missing metric) for every strategy."""
    test: str
    """``friedman`` (>= 3 strategies), ``wilcoxon`` (2 strategies) or ``none``."""
    statistic: float
    p: float
    effect_name: str
    effect_size: float
    """Kendall's W for Friedman (0: no agreement, 1: same ranking on every clause);
    rank-biserial r of first minus second strategy for the two-strategy Wilcoxon."""
    ci_low: float
    ci_high: float
    medians: dict[str, float]
    pairwise: pd.DataFrame
    """One row per pair: a, b, n, median_a, median_b, statistic, p, p_holm, r, ci_low, ci_high."""
    alpha: float
    note: str = ""
    run_ids: str = ""

    @property
    def significant(self) -> bool:
        return bool(self.p < self.alpha) if not math.isnan(self.p) else False

    def row(self) -> dict[str, Any]:
        return {"scale": self.scale, "n_params": self.n_params, "metric": self.metric,
                "strategies": ",".join(self.strategies), "k": len(self.strategies), "n": self.n,
                "test": self.test, "statistic": self.statistic, "p": self.p,
                "effect_name": self.effect_name, "effect_size": self.effect_size,
                "ci_low": self.ci_low, "ci_high": self.ci_high,
                **{f"median_{s}": v for s, v in self.medians.items()},
                "note": self.note, "run_ids": self.run_ids}


_PAIR_COLUMNS = ["scale", "n_params", "metric", "a", "b", "n", "median_a", "median_b",
                 "statistic", "p", "p_holm", "r", "ci_low", "ci_high", "note", "run_ids"]


def _wilcoxon_pair(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_bootstrap: int,
                   confidence: float) -> dict[str, Any]:
    n = len(x)
    out: dict[str, Any] = {"n": n, "median_a": float(np.median(x)) if n else math.nan,
                           "median_b": float(np.median(y)) if n else math.nan,
                           "statistic": math.nan, "p": math.nan, "r": math.nan,
                           "ci_low": math.nan, "ci_high": math.nan, "note": ""}
    d = x - y
    if n < 5:
        out["note"] = f"only {n} paired clauses (need >= 5)"
        return out
    if not np.any(d != 0):
        out["note"] = "all paired differences are zero"
        out["r"] = 0.0
        return out
    res = st.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided")
    out["statistic"], out["p"] = float(res.statistic), float(res.pvalue)
    out["r"] = float(_rank_biserial_rows(d[None, :])[0])
    out["ci_low"], out["ci_high"] = _ci(_rank_biserial_rows(d[_boot_idx(rng, n, n_bootstrap)]),
                                        confidence)
    nonzero = int(np.count_nonzero(d))
    if nonzero < 5:
        out["note"] = f"only {nonzero} non-zero differences"
    return out


def compare_strategies(clause_df: pd.DataFrame, metric: str, scale: str, alpha: float = 0.05, *,
                       strategies: Sequence[str] | None = None, n_bootstrap: int = 1000,
                       seed: int = 0) -> StrategyComparison:
    """Do fine-tuning strategies differ in attribution focus at one scale?

    Paired design: the same clauses are attributed under every strategy, so clauses are blocks
    and only clauses with a value for *every* strategy are used. Omnibus: Friedman's test
    (:func:`scipy.stats.friedmanchisquare`, chi-square approximation; needs >= 3 strategies)
    with Kendall's W as effect size. Pairwise: two-sided Wilcoxon signed-rank tests
    (:func:`scipy.stats.wilcoxon`, zero differences dropped) with Holm-adjusted p-values
    (``p_holm``) and the matched-pairs rank-biserial correlation ``r`` of ``a - b`` (r > 0:
    ``a`` higher). With two strategies the omnibus test *is* the Wilcoxon.

    Assumptions: clauses are independent of each other; within a clause the values of the
    strategies are comparable (same units, same clause text); the tests are rank-based, so no
    normality is assumed, but Wilcoxon assumes differences symmetric about their median.
    Fewer than 5 clauses, or no variation at all, give NaN p-values with a ``note``.

    Parameters
    ----------
    clause_df : per-clause attribution table (``clause_id, strategy, scale`` and ``metric``).
    metric : ``entropy`` (lower = more focused), ``gini`` or ``top_k_share`` (higher = more).
    scale : the scale to test at.
    alpha : significance level; CIs are at ``1 - alpha``.
    strategies : which to compare (default: all present at ``scale``, in canonical order).
    """
    confidence = 1 - alpha
    rng = np.random.default_rng(seed)
    d = clause_df[clause_df["scale"] == scale]
    strategies = tuple(strategies) if strategies is not None else tuple(
        _strategy_sort(d["strategy"].dropna().unique()))
    n_params = _n_params(d, scale)
    runs = _run_list(d)
    run_ids = _fmt_runs(runs, strategies)
    wide = (d[d["strategy"].isin(strategies)].groupby(["clause_id", "strategy"])[metric].mean()
            .unstack("strategy").reindex(columns=list(strategies)).dropna())
    n, k = len(wide), len(strategies)
    x = wide.to_numpy(dtype=float)
    medians = {s: (float(np.median(x[:, i])) if n else math.nan) for i, s in enumerate(strategies)}

    pairs = []
    for i, j in combinations(range(k), 2):
        row = {"scale": scale, "n_params": n_params, "metric": metric,
               "a": strategies[i], "b": strategies[j],
               **_wilcoxon_pair(x[:, i], x[:, j], rng, n_bootstrap, confidence),
               "run_ids": _fmt_runs(runs, (strategies[i], strategies[j]))}
        pairs.append(row)
    pairwise = pd.DataFrame(pairs, columns=_PAIR_COLUMNS)
    pairwise["p_holm"] = holm(pairwise["p"]) if len(pairwise) else []

    base = dict(scale=scale, n_params=n_params, metric=metric, strategies=strategies, n=n,
                medians=medians, pairwise=pairwise, alpha=alpha, run_ids=run_ids)
    nan = math.nan
    if k < 2:
        return StrategyComparison(**base, test="none", statistic=nan, p=nan, effect_name="",
                                  effect_size=nan, ci_low=nan, ci_high=nan,
                                  note=f"needs >= 2 strategies, got {k}")
    if k == 2:
        pr = pairs[0]
        return StrategyComparison(**base, test="wilcoxon", statistic=pr["statistic"], p=pr["p"],
                                  effect_name="rank-biserial r", effect_size=pr["r"],
                                  ci_low=pr["ci_low"], ci_high=pr["ci_high"], note=pr["note"])
    if n < 5:
        return StrategyComparison(**base, test="friedman", statistic=nan, p=nan,
                                  effect_name="Kendall's W", effect_size=nan, ci_low=nan,
                                  ci_high=nan, note=f"only {n} clauses present for all "
                                  f"{k} strategies (need >= 5)")
    ranks = st.rankdata(x, axis=1)
    ties = np.array([sum(c ** 3 - c for c in np.unique(r, return_counts=True)[1]) for r in ranks],
                    dtype=float)
    if np.all(ties == k ** 3 - k):
        return StrategyComparison(**base, test="friedman", statistic=nan, p=nan,
                                  effect_name="Kendall's W", effect_size=nan, ci_low=nan,
                                  ci_high=nan, note="all strategies tie on every clause")
    res = st.friedmanchisquare(*x.T)
    w = float(res.statistic) / (n * (k - 1))
    idx = _boot_idx(rng, n, n_bootstrap)
    w_boot = _kendall_w_rows(ranks[idx].sum(axis=1), ties[idx].sum(axis=1), n, k)
    lo, hi = _ci(w_boot, confidence)
    return StrategyComparison(**base, test="friedman", statistic=float(res.statistic),
                              p=float(res.pvalue), effect_name="Kendall's W", effect_size=w,
                              ci_low=lo, ci_high=hi, note="")


@dataclass(frozen=True, eq=False)
class Divergence:
    """Result of :func:`distribution_divergence`."""

    scale: str
    n_params: int | None
    strategy_a: str
    strategy_b: str
    n: int
    mean_jsd: float
    """Mean over clauses of the unit-level Jensen-Shannon divergence (base 2, in [0, 1])."""
    ci_low: float
    ci_high: float
    statistic: float
    """Category-profile JSD: divergence between the two strategies' mean category shares."""
    p: float
    """Permutation p-value of ``statistic`` (labels swapped within clauses)."""
    n_permutations: int
    per_clause: pd.DataFrame
    note: str = ""
    run_ids: str = ""
    mde: float = math.nan
    """Smallest category-profile JSD the test detects with 80% power (:func:`ccattr.power.divergence_mde`)."""
    medium: float = math.nan
    """The category-profile JSD of moving 10 points of attribution between the two largest
    categories: the "medium" effect this test's verdict is read against."""

    def row(self) -> dict[str, Any]:
        return {"scale": self.scale, "n_params": self.n_params, "a": self.strategy_a,
                "b": self.strategy_b, "n": self.n, "mean_jsd": self.mean_jsd,
                "ci_low": self.ci_low, "ci_high": self.ci_high,
                "category_jsd": self.statistic, "p": self.p,
                "n_permutations": self.n_permutations, "mde": self.mde, "medium": self.medium,
                "note": self.note,
                "run_ids": self.run_ids}


def _jsd(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise Jensen-Shannon *divergence* (squared scipy distance), base 2."""
    return jensenshannon(p, q, axis=-1, base=2) ** 2


def _normalize_rows(m: np.ndarray) -> tuple[np.ndarray, int]:
    m = np.clip(np.nan_to_num(m, nan=0.0), 0, None)
    s = m.sum(axis=-1, keepdims=True)
    bad = (s[..., 0] <= 0)
    width = (m.shape[-1] if m.ndim else 1)
    m = np.where(s > 0, m / np.where(s > 0, s, 1), 1.0 / max(width, 1))
    return m, int(bad.sum())


def distribution_divergence(long_df: pd.DataFrame, strategy_a: str, strategy_b: str, scale: str,
                            n_permutations: int = 1000, seed: int = 0, *,
                            n_bootstrap: int = 1000, confidence: float = 0.95,
                            mde_alpha: float | None = None) -> Divergence:
    """Do two strategies put attribution on *different* words of the same clauses?

    Per clause, the two ``norm_score`` distributions are aligned by ``unit_index`` (a unit
    missing on one side counts as 0) and compared with the Jensen-Shannon divergence
    (:func:`scipy.spatial.distance.jensenshannon` squared, base 2: 0 = identical, 1 = disjoint).
    ``mean_jsd`` (with a bootstrap CI over clauses) says *how far apart* the patterns are.

    Testing: the per-clause JSD is symmetric, so swapping the strategies' labels within a
    clause leaves it unchanged - a permutation null on the mean unit-level JSD is degenerate,
    and with a single attribution per (strategy, clause) there is no within-strategy noise to
    compare it with. The test therefore uses what clauses share - word categories: ``statistic``
    is the JSD between the two strategies' mean category profiles (share of attribution per
    category, averaged over clauses), and the null distribution swaps the two labels within
    each clause at random (``n_permutations`` times). ``p = (1 + #{null >= observed}) /
    (1 + n_permutations)``. A small p means the strategies *systematically* weight word
    categories differently; a large one with a large ``mean_jsd`` means clause-specific
    disagreement without a consistent pattern.

    Assumptions: clauses independent; under the null the two strategies' attributions of a
    clause are exchangeable; units and categories are the same for both strategies (the
    segmentation is done on the clause text, not by the model).
    """
    rng = np.random.default_rng(seed)
    d = long_df[(long_df["scale"] == scale) & long_df["strategy"].isin([strategy_a, strategy_b])]
    n_params = _n_params(long_df, scale)
    run_ids = _run_ids(d)
    notes = []
    both = d.groupby("clause_id")["strategy"].nunique()
    clauses = sorted(both[both == 2].index)
    n = len(clauses)
    empty = pd.DataFrame({"clause_id": pd.Series(dtype=str), "jsd": pd.Series(dtype=float)})
    if n == 0 or strategy_a == strategy_b:
        return Divergence(scale, n_params, strategy_a, strategy_b, n, math.nan, math.nan,
                          math.nan, math.nan, math.nan, n_permutations, empty,
                          note="no clauses attributed under both strategies", run_ids=run_ids)
    d = d[d["clause_id"].isin(clauses)]
    units = d.pivot_table(index=["clause_id", "unit_index"], columns="strategy",
                          values="norm_score", aggfunc="sum")
    units = units.reindex(columns=[strategy_a, strategy_b])
    mismatched = int(units.isna().any(axis=1).sum())
    if mismatched:
        notes.append(f"{mismatched} units present for one strategy only (counted as 0)")
    units = units.fillna(0.0)
    cats = d.groupby(["clause_id", "unit_index"])["category"].first().reindex(units.index)

    # padded (clause x unit) matrices; zero padding does not change the JSD
    pos = units.groupby(level="clause_id").cumcount().to_numpy()
    row = pd.Index(clauses).get_indexer(units.index.get_level_values("clause_id"))
    width = int(pos.max()) + 1
    pa, pb = np.zeros((n, width)), np.zeros((n, width))
    pa[row, pos] = units[strategy_a].to_numpy(dtype=float)
    pb[row, pos] = units[strategy_b].to_numpy(dtype=float)
    pa, bad_a = _normalize_rows(pa)
    pb, bad_b = _normalize_rows(pb)
    if bad_a or bad_b:
        notes.append(f"{bad_a + bad_b} all-zero attributions treated as uniform")
        # uniform over the real units only, not the padding
        counts = np.bincount(row, minlength=n)
        for m, bad in ((pa, units[strategy_a].groupby(level=0).sum().reindex(clauses) <= 0),
                       (pb, units[strategy_b].groupby(level=0).sum().reindex(clauses) <= 0)):
            for i in np.flatnonzero(bad.to_numpy()):
                m[i] = 0.0
                m[i, :counts[i]] = 1.0 / counts[i]
    jsd = _jsd(pa, pb)
    per_clause = pd.DataFrame({"clause_id": clauses, "jsd": jsd})
    mean_jsd = float(jsd.mean())
    lo, hi = _ci(jsd[_boot_idx(rng, n, n_bootstrap)].mean(axis=1), confidence)

    # category profiles per clause, then the permutation test on their mean
    cat_names = sorted(cats.dropna().unique())
    cidx = pd.Index(cat_names).get_indexer(cats.to_numpy())
    qa, qb = np.zeros((n, len(cat_names))), np.zeros((n, len(cat_names)))
    np.add.at(qa, (row, cidx), pa[row, pos])
    np.add.at(qb, (row, cidx), pb[row, pos])
    diff = qa - qb
    sa, sb = qa.sum(axis=0), qb.sum(axis=0)
    observed = float(_jsd(sa / n, sb / n))
    p = math.nan
    if n < 5:
        notes.append(f"only {n} clauses (need >= 5 for the permutation test)")
    elif not np.any(np.abs(diff) > 1e-12):
        notes.append("identical category profiles on every clause")
    else:
        swaps = rng.integers(0, 2, size=(n_permutations, n)).astype(float)
        moved = swaps @ diff
        null = _jsd((sa - moved) / n, (sb + moved) / n)
        p = float((1 + np.sum(null >= observed * (1 - 1e-9))) / (1 + n_permutations))
    mde = medium = math.nan
    if mde_alpha is not None and n >= 5 and len(cat_names) >= 2:
        from ccattr.power import divergence_mde

        profile = (sa + sb) / (2 * n)
        mde = divergence_mde(diff, profile, alpha=mde_alpha, seed=seed)
        top = np.argsort(-profile)[:2]
        shift = np.zeros_like(profile)
        shift[top] = (-0.05, 0.05)
        medium = float(_jsd(np.clip(profile + shift, 0, None), np.clip(profile - shift, 0, None)))
    return Divergence(scale, n_params, strategy_a, strategy_b, n, mean_jsd, lo, hi, observed, p,
                      n_permutations, per_clause, note="; ".join(notes), run_ids=run_ids,
                      mde=mde, medium=medium)


# --------------------------------------------------------------------------- claim 2: scale


@dataclass(frozen=True, eq=False)
class CategoryShares:
    """Result of :func:`category_shares`."""

    per_clause: pd.DataFrame
    """strategy, scale, n_params, clause_id, category, share, n_units, unit_fraction, has_category."""
    means: pd.DataFrame
    """strategy, scale, n_params, category, n, mean, ci_low, ci_high, unit_fraction, n_all,
    mean_all, run_ids: means over the clauses that contain the category (``n``), and over all
    clauses (``mean_all``, zeros included)."""


def category_shares(long_df: pd.DataFrame, *, n_bootstrap: int = 1000, seed: int = 0,
                    confidence: float = 0.95) -> CategoryShares:
    """Share of attribution (sum of ``norm_score``) per word category, per clause and on average.

    Per (strategy, scale, clause) the shares over categories sum to 1. A clause without any unit
    of a category has share 0 there *structurally* (nothing to attribute to), so ``mean`` averages
    only clauses containing the category; ``mean_all`` includes the zeros. ``unit_fraction`` is
    the fraction of the clause's units in the category - the share a model that attributes
    uniformly would give - to read shares against. CIs: percentile bootstrap over clauses.
    """
    rng = np.random.default_rng(seed)
    keys = ["strategy", "scale", "clause_id"]
    d = long_df.copy()
    d["norm_score"] = pd.to_numeric(d["norm_score"], errors="coerce").fillna(0.0)
    present = sorted(d["category"].dropna().unique(),
                     key=lambda c: (CATEGORIES.index(c) if c in CATEGORIES else 99, c))
    share = d.pivot_table(index=keys, columns="category", values="norm_score", aggfunc="sum",
                          fill_value=0.0).reindex(columns=present, fill_value=0.0)
    total = share.sum(axis=1).replace(0, np.nan)
    share = share.div(total, axis=0).fillna(0.0)
    count = d.pivot_table(index=keys, columns="category", values="unit_index", aggfunc="count",
                          fill_value=0).reindex(columns=present, fill_value=0)
    count = count.reindex(share.index, fill_value=0)
    frac = count.div(count.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    per_clause = (share.stack().rename("share").to_frame()
                  .join(count.stack().rename("n_units"))
                  .join(frac.stack().rename("unit_fraction")).reset_index())
    per_clause["has_category"] = per_clause["n_units"] > 0
    sizes = d.groupby("scale")["n_params"].first()
    per_clause.insert(2, "n_params", per_clause["scale"].map(sizes))

    rows = []
    for (strategy, scale, cat), g in per_clause.groupby(["strategy", "scale", "category"],
                                                       sort=False):
        x = g.loc[g["has_category"], "share"].to_numpy(dtype=float)
        lo = hi = mean = math.nan
        if x.size:
            mean = float(x.mean())
            lo, hi = _ci(x[_boot_idx(rng, x.size, n_bootstrap)].mean(axis=1), confidence)
        mask = (d["strategy"] == strategy) & (d["scale"] == scale)
        rows.append({"strategy": strategy, "scale": scale, "n_params": sizes.get(scale),
                     "category": cat, "n": int(x.size), "mean": mean, "ci_low": lo, "ci_high": hi,
                     "unit_fraction": float(g.loc[g["has_category"], "unit_fraction"].mean())
                     if x.size else math.nan,
                     "n_all": len(g), "mean_all": float(g["share"].mean()),
                     "run_ids": _run_ids(d, mask)})
    means = pd.DataFrame(rows, columns=["strategy", "scale", "n_params", "category", "n", "mean",
                                        "ci_low", "ci_high", "unit_fraction", "n_all", "mean_all",
                                        "run_ids"])
    return CategoryShares(per_clause=per_clause, means=means)


@dataclass(frozen=True, eq=False)
class ScaleTrend:
    """Result of :func:`scale_trend`."""

    strategy: str
    category: str
    n: int
    """Clauses containing the category, attributed at every scale."""
    scales: tuple[str, ...]
    n_params: tuple[int, ...]
    mean_share: tuple[float, ...]
    rho: float
    """Spearman correlation of share with log(n_params) over all (clause, scale) points."""
    ci_low: float
    ci_high: float
    p_spearman: float
    page_L: float
    p_page_increasing: float
    p_page: float
    """Two-sided Page p-value: ``min(1, 2 * min(p_increasing, p_decreasing))``."""
    rho_within: float = math.nan
    """Mean within-clause Spearman rho of share vs scale order: the effect Page's L measures."""
    note: str = ""
    run_ids: str = ""

    def row(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "category": self.category, "n": self.n,
                "n_scales": len(self.scales), "scales": ",".join(self.scales),
                "n_params": ",".join(str(v) for v in self.n_params),
                "mean_share": ",".join(f"{v:.4f}" for v in self.mean_share),
                "rho": self.rho, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "p_spearman": self.p_spearman, "page_L": self.page_L,
                "p_page_increasing": self.p_page_increasing, "p_page": self.p_page,
                "rho_within": self.rho_within,
                "note": self.note, "run_ids": self.run_ids}


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman rho of ``x`` (1-d) with each row of ``y`` (B x m)."""
    rx = st.rankdata(x)
    rx = rx - rx.mean()
    ry = st.rankdata(y, axis=1)
    ry = ry - ry.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ry @ rx) / np.sqrt((ry ** 2).sum(axis=1) * (rx ** 2).sum())


def scale_trend(long_df: pd.DataFrame, category: str, strategy: str, n_bootstrap: int = 1000,
                seed: int = 0, *, confidence: float = 0.95) -> ScaleTrend:
    """Does the share of attribution on ``category`` change with model scale (one strategy)?

    Uses the clauses that contain the category and were attributed at every scale of the
    strategy (clauses as blocks; scales ordered by parameter count).

    * Page's trend test (:func:`scipy.stats.page_trend_test`): clauses as rows, scales ascending
      as columns; the within-clause test of a monotone trend, the primary one. Needs >= 3 scales
      and >= 2 clauses. ``p_page_increasing`` is one-sided (share rises with scale);
      ``p_page`` is two-sided.
    * Spearman's rho (:func:`scipy.stats.spearmanr`) of share vs log(n_params) over all
      (clause, scale) points, as the effect size, with a bootstrap CI resampling clauses.
      ``p_spearman`` treats points as independent; with the balanced design this is
      conservative (between-clause spread inflates the noise), so trust Page's p first.

    ``long_df`` is the attribution long table, or the ``per_clause`` table of
    :func:`category_shares` (to avoid recomputing shares).
    """
    alpha_ci = confidence
    rng = np.random.default_rng(seed)
    per_clause = long_df if "share" in long_df.columns else category_shares(
        long_df, n_bootstrap=100).per_clause
    g = per_clause[(per_clause["strategy"] == strategy) & (per_clause["category"] == category)]
    src = long_df if "run_id" in long_df.columns else per_clause
    run_ids = _run_ids(src, src["strategy"] == strategy) if len(src) else ""
    nan = math.nan
    if g.empty:
        return ScaleTrend(strategy, category, 0, (), (), (), nan, nan, nan, nan, nan, nan, nan,
                          note="no data for this strategy and category", run_ids=run_ids)
    scales = _scale_order(g)
    sizes = g.groupby("scale")["n_params"].first()
    has = g.groupby("clause_id")["has_category"].any()
    wide = (g[g["clause_id"].isin(has[has].index)]
            .pivot_table(index="clause_id", columns="scale", values="share", aggfunc="mean")
            .reindex(columns=scales).dropna())
    n, k = len(wide), len(scales)
    y = wide.to_numpy(dtype=float)
    n_params = tuple(int(sizes[s]) for s in scales)
    mean_share = tuple(float(v) for v in (y.mean(axis=0) if n else np.full(k, nan)))
    base = dict(strategy=strategy, category=category, n=n, scales=tuple(scales),
                n_params=n_params, mean_share=mean_share, run_ids=run_ids)
    notes = []
    rho = lo = hi = p_s = nan
    if k < 2 or n < 3:
        notes.append(f"{n} clauses x {k} scale{'s' if k != 1 else ''}: too few for a trend")
    elif len(set(n_params)) < 2:
        notes.append("all scales have the same parameter count")
    elif np.ptp(y) == 0:
        notes.append("share is constant")
    else:
        x = np.tile(np.log(np.asarray(n_params, dtype=float)), n)
        res = st.spearmanr(x, y.ravel())
        rho, p_s = float(res.statistic), float(res.pvalue)
        boots = _spearman_rows(x, y[_boot_idx(rng, n, n_bootstrap)].reshape(n_bootstrap, -1))
        lo, hi = _ci(boots, alpha_ci)
    page_l = p_inc = p_two = rho_within = nan
    if k < 3:
        notes.append(f"Page's test needs >= 3 scales, got {k}")
    elif n < 2:
        notes.append(f"Page's test needs >= 2 clauses, got {n}")
    elif np.all(np.ptp(y, axis=1) == 0):
        notes.append("share ties across scales on every clause")
    else:
        inc = st.page_trend_test(y)
        dec = st.page_trend_test(y[:, ::-1])
        page_l, p_inc = float(inc.statistic), float(inc.pvalue)
        p_two = float(min(1.0, 2 * min(inc.pvalue, dec.pvalue)))
        ranks = st.rankdata(y, axis=1) - (k + 1) / 2
        order = np.arange(k) - (k - 1) / 2
        denom = np.sqrt((ranks ** 2).sum(axis=1) * (order ** 2).sum())
        rho_within = float(np.mean(np.where(denom > 0, ranks @ order / np.where(denom > 0, denom, 1), 0.0)))
    return ScaleTrend(**base, rho=rho, ci_low=lo, ci_high=hi, p_spearman=p_s, page_L=page_l,
                      p_page_increasing=p_inc, p_page=p_two, rho_within=rho_within, note="; ".join(notes))


# --------------------------------------------------------------------------- claim 3: plateau


@dataclass(frozen=True, eq=False)
class Plateau:
    """Result of :func:`plateau`."""

    by_scale: pd.DataFrame
    """strategy, scale, n_params, n, mean, ci_low, ci_high, run_ids."""
    gains: pd.DataFrame
    """strategy, from_scale, to_scale, from_n_params, to_n_params, doublings, gain,
    gain_per_doubling, ci_low, ci_high, below_threshold, ci_covers_zero."""
    summary: pd.DataFrame
    """strategy, n_scales, plateau_scale, plateau_n_params, pattern, confirmed, last_gain,
    last_ci_low, last_ci_high, note. ``plateau_scale`` is NaN for "no plateau"; ``pattern`` is
    ``plateau`` (gains, then flat), ``flat`` (no detectable gain from the smallest scale on),
    ``no plateau`` or ``single scale``."""


def _clause_col(df: pd.DataFrame) -> str:
    return "clause_id" if "clause_id" in df.columns else "id"


def plateau(similarity_df: pd.DataFrame, n_bootstrap: int = 1000, gain_threshold: float = 0.01,
            seed: int = 0, *, confidence: float = 0.95, metric: str = "similarity") -> Plateau:
    """Do rule-quality gains flatten beyond some scale? One verdict per strategy.

    ``metric`` is the per-clause quality column (``statistics.quality_metric``: similarity by
    default, or ``lrml_f``, ``bleu``, ``exact_match``, ``edit_similarity``; all in [0, 1]).

    For each strategy, scales are ordered by parameter count; the mean similarity per scale
    gets a bootstrap CI over clauses. Between consecutive scales, the *gain per doubling* is
    ``(mean_{i+1} - mean_i) / (log2 n_{i+1} - log2 n_i)``, with a bootstrap CI (clauses resampled
    jointly across scales when every scale has the same clauses - the paired design - else
    independently per scale).

    Criterion: the plateau scale is the first scale ``s_i`` such that *every* later step
    (``s_i -> s_{i+1}``, ``s_{i+1} -> s_{i+2}``, ...) has a gain per doubling below
    ``gain_threshold`` *and* a CI covering zero; if there is none, "no plateau" (NaN). The
    criterion reads "no detectable gain" - a small, noisy sample can pass it for lack of power -
    so ``confirmed`` additionally says whether every later step's CI *upper bound* is below the
    threshold (gains of ``gain_threshold`` per doubling ruled out: an equivalence-style check).
    Needs >= 2 scales; a single later step is weak evidence (see ``note``).
    """
    rng = np.random.default_rng(seed)
    ccol = _clause_col(similarity_df)
    by_rows, gain_rows, summ_rows = [], [], []
    df = similarity_df.assign(**{metric: pd.to_numeric(similarity_df[metric], errors="coerce")}) \
        .dropna(subset=[metric])
    for strategy in _strategy_sort(df["strategy"].unique()):
        g = df[df["strategy"] == strategy]
        scales = _scale_order(g)
        sizes = g.groupby("scale")["n_params"].first()
        samples = {s: g[g["scale"] == s].groupby(ccol)[metric].mean() for s in scales}
        common = set.intersection(*(set(v.index) for v in samples.values())) if scales else set()
        paired = all(len(v) == len(common) for v in samples.values()) and len(common) > 0
        boot_means: dict[str, np.ndarray] = {}
        if paired:
            ids = sorted(common)
            idx = _boot_idx(rng, len(ids), n_bootstrap)
            for s in scales:
                boot_means[s] = samples[s].reindex(ids).to_numpy(dtype=float)[idx].mean(axis=1)
        else:
            for s in scales:
                v = samples[s].to_numpy(dtype=float)
                boot_means[s] = v[_boot_idx(rng, len(v), n_bootstrap)].mean(axis=1)
        for s in scales:
            lo, hi = _ci(boot_means[s], confidence)
            by_rows.append({"strategy": strategy, "scale": s, "n_params": int(sizes[s]),
                            "n": len(samples[s]), "mean": float(samples[s].mean()),
                            "ci_low": lo, "ci_high": hi,
                            "run_ids": _run_ids(g, g["scale"] == s)})
        steps = []
        for a, b in zip(scales, scales[1:], strict=False):
            doublings = math.log2(float(sizes[b])) - math.log2(float(sizes[a]))
            gain = float(samples[b].mean() - samples[a].mean())
            if doublings <= 0:
                gpd, lo, hi = math.nan, math.nan, math.nan
            else:
                gpd = gain / doublings
                lo, hi = _ci((boot_means[b] - boot_means[a]) / doublings, confidence)
            steps.append({"strategy": strategy, "from_scale": a, "to_scale": b,
                          "from_n_params": int(sizes[a]), "to_n_params": int(sizes[b]),
                          "doublings": doublings, "gain": gain, "gain_per_doubling": gpd,
                          "ci_low": lo, "ci_high": hi,
                          "below_threshold": bool(gpd < gain_threshold),
                          "ci_covers_zero": bool(lo <= 0 <= hi),
                          "paired": paired})
        gain_rows += steps
        plateau_at: str | None = None
        for i in range(len(steps)):
            later = steps[i:]
            if all(s["below_threshold"] and s["ci_covers_zero"] for s in later):
                plateau_at = scales[i]
                break
        notes = []
        if len(scales) < 2:
            notes.append("needs >= 2 scales")
        elif plateau_at is not None and scales.index(plateau_at) == len(scales) - 2:
            notes.append("plateau rests on the last step only")
        if not paired and len(scales) >= 2:
            notes.append("clauses differ between scales: unpaired bootstrap")
        pattern = ("no plateau" if plateau_at is None else
                   "flat" if plateau_at == scales[0] else "plateau")
        if len(scales) < 2:
            pattern = "single scale"
        confirmed = bool(plateau_at is not None and all(
            s["ci_high"] < gain_threshold for s in steps[scales.index(plateau_at):]))
        last = steps[-1] if steps else {}
        summ_rows.append({"strategy": strategy, "n_scales": len(scales),
                          "plateau_scale": plateau_at,
                          "plateau_n_params": int(sizes[plateau_at]) if plateau_at else None,
                          "pattern": pattern, "confirmed": confirmed,
                          "gain_threshold": gain_threshold,
                          "last_from": last.get("from_scale"), "last_to": last.get("to_scale"),
                          "last_gain": last.get("gain_per_doubling", math.nan),
                          "last_ci_low": last.get("ci_low", math.nan),
                          "last_ci_high": last.get("ci_high", math.nan),
                          "note": "; ".join(notes), "run_ids": _run_ids(g)})
    by_scale = pd.DataFrame(by_rows, columns=["strategy", "scale", "n_params", "n", "mean",
                                              "ci_low", "ci_high", "run_ids"])
    gains = pd.DataFrame(gain_rows, columns=["strategy", "from_scale", "to_scale",
                                             "from_n_params", "to_n_params", "doublings", "gain",
                                             "gain_per_doubling", "ci_low", "ci_high",
                                             "below_threshold", "ci_covers_zero", "paired"])
    summary = pd.DataFrame(summ_rows, columns=["strategy", "n_scales", "plateau_scale",
                                               "plateau_n_params", "pattern", "confirmed",
                                               "gain_threshold",
                                               "last_from", "last_to", "last_gain",
                                               "last_ci_low", "last_ci_high", "note", "run_ids"])
    return Plateau(by_scale=by_scale, gains=gains, summary=summary)


# --------------------------------------------------------------------------- loading


def load_attributions(attributions_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(long_df, clause_df)`` from ``results/attributions/<name>.parquet`` and
    ``<name>.clauses.parquet`` (all models concatenated; empty frames if none)."""
    root = Path(attributions_dir)
    clause_files, long_files = table_files(root, "clauses"), table_files(root, "units")
    long_df = pd.concat([pd.read_parquet(p) for p in long_files], ignore_index=True) \
        if long_files else pd.DataFrame(columns=["clause_id", "unit_index", "text", "category",
                                                 "norm_score", "strategy", "scale", "n_params",
                                                 "run_id"])
    clause_df = pd.concat([pd.read_parquet(p) for p in clause_files], ignore_index=True) \
        if clause_files else pd.DataFrame(columns=["clause_id", *METRICS, "strategy", "scale",
                                                   "n_params", "run_id"])
    for df in (long_df, clause_df):
        if "clause_id" in df.columns:
            df["clause_id"] = df["clause_id"].astype(str)
    return long_df, clause_df


def load_eval(eval_dir: str | Path) -> pd.DataFrame:
    """Per-clause evaluation table from ``results/eval/<name>/{predictions.jsonl,metrics.json}``:
    the prediction rows plus ``strategy, scale, n_params, run_id`` from metrics.json and
    ``clause_id`` (= ``id``)."""
    import json

    frames = []
    for metrics_path in sorted(Path(eval_dir).glob("*/metrics.json")):
        meta = json.loads(metrics_path.read_text(encoding="utf-8"))
        pred = metrics_path.parent / "predictions.jsonl"
        if not pred.exists():
            continue
        rows = pd.read_json(pred, lines=True, dtype={"id": str})
        for key in ("strategy", "scale", "n_params", "family", "run_id", *CORPUS_METRICS):
            rows[key] = meta.get(key)
        rows["clause_id"] = rows["id"].astype(str) if "id" in rows.columns else rows.index.astype(str)
        frames.append(rows)
    if not frames:
        return pd.DataFrame(columns=["clause_id", "similarity", "strategy", "scale", "n_params",
                                     "run_id"])
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- the comparison


def _similarity_table(eval_df: pd.DataFrame, n_bootstrap: int, seed: int,
                      confidence: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    extra = [c for c in ("exact_match", "edit_distance", "parses", "lrml_f", "bleu", *CORPUS_METRICS)
             if c in eval_df.columns and eval_df[c].notna().any()]
    for strategy in _strategy_sort(eval_df["strategy"].dropna().unique()):
        g = eval_df[eval_df["strategy"] == strategy]
        for scale in _scale_order(g):
            h = g[g["scale"] == scale]
            x = pd.to_numeric(h["similarity"], errors="coerce").dropna().to_numpy(dtype=float)
            lo, hi = _ci(x[_boot_idx(rng, x.size, n_bootstrap)].mean(axis=1), confidence) \
                if x.size else (math.nan, math.nan)
            row = {"strategy": strategy, "scale": scale, "n_params": _n_params(h, scale),
                   "n": int(x.size), "similarity": float(x.mean()) if x.size else math.nan,
                   "ci_low": lo, "ci_high": hi,
                   "median": float(np.median(x)) if x.size else math.nan}
            for c in extra:
                row[c] = float(pd.to_numeric(h[c], errors="coerce").mean())
            row["run_ids"] = _run_ids(h)
            rows.append(row)
    cols = ["strategy", "scale", "n_params", "n", "similarity", "ci_low", "ci_high", "median",
            *extra, "run_ids"]
    return pd.DataFrame(rows, columns=cols)


def _focus_table(clause_df: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    rows = []
    for strategy in _strategy_sort(clause_df["strategy"].dropna().unique()):
        g = clause_df[clause_df["strategy"] == strategy]
        for scale in _scale_order(g):
            h = g[g["scale"] == scale]
            row = {"strategy": strategy, "scale": scale, "n_params": _n_params(h, scale),
                   "n": len(h)}
            for m in metrics:
                v = pd.to_numeric(h[m], errors="coerce").dropna()
                row[f"{m}_median"] = float(v.median()) if len(v) else math.nan
                row[f"{m}_q1"] = float(v.quantile(0.25)) if len(v) else math.nan
                row[f"{m}_q3"] = float(v.quantile(0.75)) if len(v) else math.nan
            row["run_ids"] = _run_ids(h)
            rows.append(row)
    return pd.DataFrame(rows)


def run_comparison(long_df: pd.DataFrame, clause_df: pd.DataFrame, eval_df: pd.DataFrame,
                   params: Any = None, top_k_fraction: float | None = None, *,
                   metrics: Sequence[str] = METRICS,
                   categories: Sequence[str] | None = None) -> tuple[dict[str, pd.DataFrame],
                                                                     dict[str, Any]]:
    """Every test of the study over the pipeline's tables.

    ``params`` is :class:`ccattr.config.StatisticsParams` (``alpha, n_bootstrap,
    n_permutations, plateau_gain, seed``; defaults when None). ``top_k_fraction`` (the
    attribution params' value) only labels the top-k metric ("top-20% share").

    Families corrected with Holm: pairwise strategy tests (within scale x metric, inside
    :func:`compare_strategies`), divergence tests (within scale), trend tests (two-sided Page
    p; two families: the claim-2 rows - numbers and rule identifiers, every strategy - and the
    exploratory rest).

    Returns ``(tables, summary)``: tables ``similarity``, ``focus``, ``strategy_tests``,
    ``pairwise``, ``divergence``, ``category_shares``, ``trends``, ``plateau_by_scale``,
    ``plateau_gains``, ``plateau``; summary: JSON-able dict (NaN as null) for :func:`findings`.
    """
    if params is None:
        from ccattr.config import StatisticsParams

        params = StatisticsParams()
    alpha, nb, nperm, seed = params.alpha, params.n_bootstrap, params.n_permutations, params.seed
    conf = 1 - alpha
    metrics = [m for m in metrics if m in clause_df.columns]
    tables: dict[str, pd.DataFrame] = {}

    tables["similarity"] = _similarity_table(eval_df, nb, seed, conf) if len(eval_df) else \
        pd.DataFrame(columns=["strategy", "scale", "n_params", "n", "similarity", "ci_low",
                              "ci_high", "median", "run_ids"])
    tables["focus"] = _focus_table(clause_df, metrics) if len(clause_df) else pd.DataFrame()

    omni, pairs = [], []
    attr_scales = _scale_order(clause_df) if len(clause_df) else []
    for scale in attr_scales:
        for m in metrics:
            res = compare_strategies(clause_df, m, scale, alpha, n_bootstrap=nb, seed=seed)
            omni.append(res.row())
            pairs.append(res.pairwise)
    tables["strategy_tests"] = pd.DataFrame(omni)
    tables["pairwise"] = pd.concat(pairs, ignore_index=True) if pairs else \
        pd.DataFrame(columns=_PAIR_COLUMNS)

    div_rows = []
    long_scales = _scale_order(long_df) if len(long_df) else []
    for scale in long_scales:
        present = _strategy_sort(long_df.loc[long_df["scale"] == scale, "strategy"].unique())
        pairs = list(combinations(present, 2))
        rows = [distribution_divergence(long_df, a, b, scale, nperm, seed, n_bootstrap=nb,
                                        confidence=conf, mde_alpha=alpha / max(1, len(pairs))).row()
                for a, b in pairs]
        for r, ph in zip(rows, holm([r["p"] for r in rows]), strict=True):
            r["p_holm"] = ph
            r["verdict"] = power.verdict(ph, alpha, r["mde"], r["medium"])
        div_rows += rows
    tables["divergence"] = pd.DataFrame(div_rows, columns=[
        "scale", "n_params", "a", "b", "n", "mean_jsd", "ci_low", "ci_high", "category_jsd", "p",
        "p_holm", "n_permutations", "mde", "medium", "verdict", "note", "run_ids"])

    if len(long_df):
        shares = category_shares(long_df, n_bootstrap=nb, seed=seed, confidence=conf)
        tables["category_shares"] = shares.means
        cats = list(categories) if categories is not None else sorted(
            shares.per_clause["category"].unique(),
            key=lambda c: (CATEGORIES.index(c) if c in CATEGORIES else 99, c))
        # Scales of different model families differ in more than size: a trend across families
        # confounds the two, so it is flagged, and each family with >= 3 scales gets its own.
        fam_of = (long_df.groupby("scale")["family"].first().dropna().astype(str).to_dict()
                  if "family" in long_df.columns else {})
        families = sorted(set(fam_of.values()))
        subsets = [("+".join(families) or "unknown", None)]
        if len(families) > 1:
            subsets += [(f, [sc for sc, g in fam_of.items() if g == f]) for f in families
                        if sum(g == f for g in fam_of.values()) >= 3]
        trends = []
        for strategy in _strategy_sort(long_df["strategy"].unique()):
            for cat in cats:
                for fam, scales_in in subsets:
                    pc = shares.per_clause if scales_in is None else \
                        shares.per_clause[shares.per_clause["scale"].isin(scales_in)]
                    res = scale_trend(pc, cat, strategy, nb, seed, confidence=conf)
                    row = {**res.row(), "model_family": fam, "cross_family": scales_in is None and len(families) > 1}
                    row["run_ids"] = _run_ids(long_df, long_df["strategy"] == strategy)
                    trends.append(row)
        trend_df = pd.DataFrame(trends)
        if len(trend_df):
            # two Holm families: the claim-2 tests (numbers, rule ids) and the exploratory rest
            family = np.where(trend_df["category"].isin(CLAIM2_CATEGORIES), "claim2",
                              "exploratory")
            p_holm = np.full(len(trend_df), np.nan)
            for fam in ("claim2", "exploratory"):
                mask = family == fam
                p_holm[mask] = holm(trend_df.loc[mask, "p_page"])
            trend_df.insert(trend_df.columns.get_loc("p_page") + 1, "p_holm", p_holm)
            trend_df.insert(trend_df.columns.get_loc("p_holm") + 1, "family", family)
        tables["trends"] = trend_df
    else:
        tables["category_shares"] = pd.DataFrame()
        tables["trends"] = pd.DataFrame()

    if len(eval_df):
        if params.quality_metric not in eval_df.columns:
            raise ValueError(f"statistics.quality_metric {params.quality_metric!r}: the evaluation tables "
                             f"have no such column (rerun evaluate)")
        pl = plateau(eval_df, nb, params.plateau_gain, seed, confidence=conf, metric=params.quality_metric)
        tables["plateau_by_scale"], tables["plateau_gains"], tables["plateau"] = (
            pl.by_scale, pl.gains, pl.summary)
    else:
        for k in ("plateau_by_scale", "plateau_gains", "plateau"):
            tables[k] = pd.DataFrame()

    _add_power(tables, alpha)

    # scale labels from every table that knows the parameter counts
    sizes: dict[str, int] = {}
    for df in (eval_df, clause_df, long_df):
        if len(df) and "n_params" in df.columns:
            for s, v in df.groupby("scale")["n_params"].first().items():
                if pd.notna(v):
                    sizes.setdefault(str(s), int(v))
    scale_list = [{"scale": s, "n_params": v, "label": scale_label(s, v)}
                  for s, v in sorted(sizes.items(), key=lambda kv: (kv[1], kv[0]))]
    strategies = _strategy_sort(set(eval_df.get("strategy", pd.Series(dtype=str)).dropna())
                                | set(clause_df.get("strategy", pd.Series(dtype=str)).dropna())
                                | set(long_df.get("strategy", pd.Series(dtype=str)).dropna()))
    summary: dict[str, Any] = {
        "alpha": alpha, "n_bootstrap": nb, "n_permutations": nperm,
        "plateau_gain": params.plateau_gain, "seed": seed,
        "quality_metric": params.quality_metric,
        "notation": _notation(eval_df),
        "top_k_fraction": top_k_fraction, "metrics": list(metrics),
        "strategies": strategies, "scales": scale_list,
        **{name: _records(df) for name, df in tables.items()
           if name in ("similarity", "strategy_tests", "pairwise", "divergence", "trends",
                       "plateau", "plateau_gains")},
    }
    summary["claims"] = _claims(summary)
    return tables, _nan_to_none(summary)


def _notation(eval_df: pd.DataFrame) -> str | None:
    if "notation" not in eval_df.columns or not len(eval_df):
        return None
    from ccattr import notations

    return notations.label(eval_df.drop_duplicates("clause_id")["notation"].dropna())


def _nan(v: Any) -> float:
    return math.nan if v is None or pd.isna(v) else float(v)


def _add_power(tables: dict[str, pd.DataFrame], alpha: float) -> None:
    """Beside every test, the smallest effect it detects with 80% power at its n (``mde``, in the
    unit of its effect size; :mod:`ccattr.power`) and a ``verdict``: significant, no effect (a
    medium effect would have been seen) or inconclusive. A Holm family of m tests is powered at
    alpha / m, the level its first step uses (conservative)."""
    pw = tables.get("pairwise")
    if pw is not None and len(pw):
        m = pw.groupby(["scale", "metric"])["a"].transform("size")
        pw["mde"] = [power.wilcoxon_mde(int(n), alpha / int(k)) for n, k in zip(pw["n"], m, strict=True)]
        pw["verdict"] = [power.verdict(_nan(p), alpha, _nan(d), power.MEDIUM["rank-biserial r"])
                         for p, d in zip(pw["p_holm"], pw["mde"], strict=True)]
    om = tables.get("strategy_tests")
    if om is not None and len(om):
        om["mde"] = [power.friedman_mde(int(n), int(k), alpha) if t == "friedman"
                     else power.wilcoxon_mde(int(n), alpha) if t == "wilcoxon" else math.nan
                     for n, k, t in zip(om["n"], om["k"], om["test"], strict=True)]
        om["verdict"] = [power.verdict(_nan(p), alpha, _nan(d), power.MEDIUM.get(str(e)))
                         for p, d, e in zip(om["p"], om["mde"], om["effect_name"], strict=True)]
    tr = tables.get("trends")
    if tr is not None and len(tr) and "family" in tr:
        m = tr.groupby("family")["category"].transform("size")
        tr["mde"] = [power.page_mde(int(n), int(k), alpha / int(f))
                     for n, k, f in zip(tr["n"], tr["n_scales"], m, strict=True)]
        tr["verdict"] = [power.verdict(_nan(p), alpha, _nan(d), power.MEDIUM["Spearman rho"])
                         for p, d in zip(tr["p_holm"], tr["mde"], strict=True)]
    gains = tables.get("plateau_gains")
    if gains is not None and len(gains):
        gains["mde"] = [power.gain_mde(_nan(lo), _nan(hi), alpha)
                        for lo, hi in zip(gains["ci_low"], gains["ci_high"], strict=True)]


def plot_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Wide tables for DVC plots, one row per scale (``x: log2_params``) and one column per
    strategy, so that ``dvc plots show`` draws one line per strategy:
    ``similarity_vs_scale`` (mean rule similarity) and ``<category>_share_vs_scale`` for the
    claim-2 categories (mean share of attribution on numbers / rule identifiers)."""
    out = {}

    def wide(df: pd.DataFrame, value: str) -> pd.DataFrame:
        w = df.pivot_table(index=["scale", "n_params"], columns="strategy", values=value, aggfunc="mean")
        w = w[[c for c in _strategy_sort(w.columns)]].reset_index()
        w.columns.name = None
        w.insert(0, "log2_params", np.log2(w["n_params"].astype(float)))
        return w.sort_values("n_params").reset_index(drop=True)

    # dvc.yaml declares every one of these files: an empty table (header only) when there is no
    # data (no clause with a number, say), never a missing output
    empty = pd.DataFrame(columns=["log2_params", "scale", "n_params"])
    sim = tables.get("similarity", pd.DataFrame())
    out["similarity_vs_scale"] = wide(sim, "similarity") if len(sim) else empty
    shares = tables.get("category_shares", pd.DataFrame())
    for category in ("number", "rule_id"):
        sub = shares[shares["category"] == category] if len(shares) else shares
        out[f"{category}_share_vs_scale"] = wide(sub, "mean") if len(sub) else empty
    return out


def save_comparison(out_dir: str | Path, tables: dict[str, pd.DataFrame],
                    summary: dict[str, Any]) -> None:
    """Write the comparison the way the compare stage publishes it (atomically, per file):
    ``tables/<name>.csv``, ``summary.json`` and ``plots/<name>.{csv,json}``
    (:func:`plot_tables`). :func:`load_comparison` and the report read this layout."""
    from ccattr.io import atomic_write_text, write_json

    out = Path(out_dir)
    for name, df in tables.items():
        atomic_write_text(out / "tables" / f"{name}.csv", df.to_csv(index=False))
    write_json(out / "summary.json", _nan_to_none(summary))
    for name, df in plot_tables(tables).items():
        atomic_write_text(out / "plots" / f"{name}.csv", df.to_csv(index=False))


_STR_COLUMNS = ("scale", "clause_id", "plateau_scale", "from_scale", "to_scale", "last_from",
                "last_to", "scales", "strategy", "strategies", "a", "b", "run_ids", "note")


def load_comparison(compare_dir: str | Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Read what :func:`save_comparison` wrote (tables from ``tables/``, or from the folder
    itself); ``({}, {})`` when there is no ``summary.json``."""
    from ccattr.io import read_json

    root = Path(compare_dir)
    if not (root / "summary.json").exists():
        return {}, {}
    folder = root / "tables" if (root / "tables").is_dir() else root
    tables = {}
    for p in sorted(folder.glob("*.csv")):
        try:
            tables[p.stem] = pd.read_csv(p, dtype={k: str for k in _STR_COLUMNS})
        except pd.errors.EmptyDataError:
            tables[p.stem] = pd.DataFrame()
    return tables, read_json(root / "summary.json")


# --------------------------------------------------------------------------- findings


def _labels(summary: dict[str, Any]) -> dict[str, str]:
    return {s["scale"]: s["label"] for s in summary.get("scales", [])}


def _metric_label(metric: str, summary: dict[str, Any]) -> str:
    if metric == "top_k_share" and summary.get("top_k_fraction"):
        return f"top-{summary['top_k_fraction'] * 100:.0f}% share"
    return METRIC_LABELS.get(metric, metric)


def _num(v: float | None, fmt: str = ".2f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _sig(p: float | None, alpha: float) -> bool:
    return p is not None and not (isinstance(p, float) and math.isnan(p)) and p < alpha


def _claims(summary: dict[str, Any]) -> dict[str, Any]:
    """Verdict per claim, from the tables in ``summary`` (see :func:`findings`)."""
    alpha = summary["alpha"]
    labels = _labels(summary)
    claims: dict[str, Any] = {}

    # claim 1: FFT more focused (entropy) AND different pattern, vs LoRA / QLoRA
    others = [s for s in ("lora", "qlora") if s in summary["strategies"]]
    comps = []
    for r in summary.get("pairwise", []):
        pair = {r["a"], r["b"]}
        if r["metric"] != "entropy" or "fft" not in pair or not (pair - {"fft"}) <= set(others):
            continue
        other = (pair - {"fft"}).pop()
        # r is the rank-biserial of a - b in entropy; FFT lower entropy = more focused
        r_fft = None if r["r"] is None else (r["r"] if r["a"] == "fft" else -r["r"])
        div = next((d for d in summary.get("divergence", []) if d["scale"] == r["scale"]
                    and {d["a"], d["b"]} == pair), None)
        comps.append({"scale": r["scale"], "label": labels.get(r["scale"], r["scale"]),
                      "other": other, "tested": r["p_holm"] is not None, "n": r["n"],
                      "more_focused": _sig(r["p_holm"], alpha) and (r_fft or 0) < 0,
                      "less_focused": _sig(r["p_holm"], alpha) and (r_fft or 0) > 0,
                      "different": div is not None and _sig(div.get("p_holm"), alpha),
                      "focus_verdict": r.get("verdict"), "focus_mde": r.get("mde"),
                      "divergence_verdict": (div or {}).get("verdict")})
    tested = [c for c in comps if c["tested"]]
    if "fft" not in summary["strategies"] or not others:
        claims["1"] = {"verdict": "not assessable", "reason": "needs FFT and LoRA or QLoRA"}
    elif not tested:
        claims["1"] = {"verdict": "not assessable",
                       "reason": "no FFT vs LoRA/QLoRA comparison could be tested"}
    else:
        n_focus = sum(c["more_focused"] for c in tested)
        n_less = sum(c["less_focused"] for c in tested)
        n_diff = sum(c["different"] for c in tested)
        both = sum(c["more_focused"] and c["different"] for c in tested)
        powered_null = any(c["focus_verdict"] == "no effect" or c["divergence_verdict"] == "no effect"
                           for c in tested)
        verdict = ("supported" if both == len(tested) else
                   "partly supported" if n_focus or n_diff else
                   "contradicted" if n_less else "not supported" if powered_null else "inconclusive")
        claims["1"] = {"verdict": verdict, "n_comparisons": len(tested),
                       **_power_range([c["focus_mde"] for c in tested], [c["n"] for c in tested]),
                       "n_scales": len({c["scale"] for c in tested}), "more_focused": n_focus,
                       "less_focused": n_less, "different": n_diff, "both": both,
                       "comparisons": comps}

    # claim 2: numbers and rule ids rise with scale
    trends = [r for r in summary.get("trends", []) if r["category"] in CLAIM2_CATEGORIES]
    testable = [r for r in trends if r["p_holm"] is not None]
    if not testable:
        claims["2"] = {"verdict": "not assessable",
                       "reason": "Page's trend test needs >= 3 scales and >= 2 clauses"}
    else:
        rising = [r for r in testable if _sig(r["p_holm"], alpha) and (r["rho"] or 0) > 0]
        falling = [r for r in testable if _sig(r["p_holm"], alpha) and (r["rho"] or 0) < 0]
        verdict = ("supported" if len(rising) == len(testable) else
                   "partly supported" if rising else
                   "contradicted" if falling else
                   "not supported" if any(r.get("verdict") == "no effect" for r in testable) else "inconclusive")
        claims["2"] = {"verdict": verdict, "n_tests": len(testable),
                       **_power_range([r.get("mde") for r in testable], [r["n"] for r in testable]),
                       "rising": [f"{r['strategy']}:{r['category']}" for r in rising],
                       "falling": [f"{r['strategy']}:{r['category']}" for r in falling]}

    # claim 3: plateau
    pl = [r for r in summary.get("plateau", []) if (r["n_scales"] or 0) >= 3]
    if not pl:
        claims["3"] = {"verdict": "not assessable", "reason": "needs >= 3 scales"}
    else:
        found = [r for r in pl if r["pattern"] == "plateau"]
        confirmed = [r for r in found if r["confirmed"]]
        # a plateau that the CIs cannot confirm (gains of plateau_gain per doubling not ruled
        # out) says as much about the sample size as about the models
        verdict = ("supported" if len(confirmed) == len(pl) else
                   "partly supported" if confirmed else
                   "inconclusive" if found or any(r["pattern"] == "flat" for r in pl) else "not supported")
        claims["3"] = {"verdict": verdict, "n_strategies": len(pl),
                       "plateau": {r["strategy"]: r["plateau_scale"] for r in found},
                       "confirmed": [r["strategy"] for r in found if r["confirmed"]],
                       "flat": [r["strategy"] for r in pl if r["pattern"] == "flat"]}
    return claims


def _power_range(mdes: list[Any], ns: list[Any]) -> dict[str, Any]:
    """The detectable effects and clause counts behind a claim's tests, for its sentence."""
    ok = [float(m) for m in mdes if m is not None and not (isinstance(m, float) and math.isnan(m))]
    return {"mde_min": min(ok) if ok else None, "mde_max": max(ok) if ok else None,
            "n_min": min(ns) if ns else None, "n_max": max(ns) if ns else None}


def _claim_power(c: dict[str, Any], unit: str, medium: float) -> str:
    """What the claim's tests could have detected: the difference between "inconclusive" and
    "not supported"."""
    lo, hi = c.get("mde_min"), c.get("mde_max")
    if lo is None:
        return " Its tests cannot detect any effect at these sample sizes: inconclusive." \
            if c.get("verdict") == "inconclusive" else ""
    n = c["n_min"] if c["n_min"] == c["n_max"] else f"{c['n_min']}-{c['n_max']}"
    span = f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}-{hi:.2f}"
    if c.get("verdict") == "inconclusive":
        return (f" With n = {n} clauses these tests detect only {unit} \u2265 {span} with 80% power "
                f"(medium: {medium}): no significant effect, but not evidence of none.")
    return f" At n = {n} clauses these tests detect {unit} \u2265 {span} with 80% power (medium: {medium})."


def _power_text(r: dict[str, Any], unit: str) -> str:
    """``; inconclusive: with n = 6 this test detects only r >= 0.99`` and the like."""
    mde, v = r.get("mde"), r.get("verdict")
    if v == "inconclusive":
        detect = "no effect at all" if mde is None else f"only {unit} \u2265 {mde:.3g}"
        return f"; inconclusive: with n = {r['n']} this test detects {detect} with 80% power"
    if v == "no effect" and mde is not None:
        return f"; it would have detected {unit} \u2265 {mde:.3g} with 80% power"
    return ""


def _focus_sentence(r: dict[str, Any], summary: dict[str, Any], labels: dict[str, str]) -> str:
    alpha = summary["alpha"]
    where = labels.get(r["scale"], r["scale"])
    a, b = strategy_label(r["a"]), strategy_label(r["b"])
    metric = _metric_label(r["metric"], summary)
    if r["p"] is None:
        return (f"At {where}, {a} and {b} could not be compared on attribution "
                f"{METRIC_SHORT.get(r['metric'], r['metric'])} "
                f"({r.get('note') or 'no test'}; n = {r['n']}).")
    r_abs = abs(r["r"]) if r["r"] is not None else None
    stats_txt = (f"Wilcoxon p {_p_eq(r['p_holm'])} Holm-adjusted, r = {_num(r_abs)}, "
                 f"n = {r['n']} clauses")
    if _sig(r["p_holm"], alpha) and r["r"]:
        sign = METRIC_DIRECTION.get(r["metric"], 1) * (1 if r["r"] > 0 else -1)
        more, less = (a, b) if sign > 0 else (b, a)
        ma, mb = (r["median_a"], r["median_b"]) if more == a else (r["median_b"], r["median_a"])
        return (f"At {where}, {more} attributions are more concentrated than {less} "
                f"(median {metric} {_num(ma)} vs {_num(mb)}, {stats_txt}).")
    short = METRIC_SHORT.get(r["metric"], r["metric"])
    return (f"At {where}, no significant difference in attribution {short} between {a} and "
            f"{b} (median {_num(r['median_a'])} vs {_num(r['median_b'])}, {stats_txt}"
            f"{_power_text(r, '|r|')}).")


def findings(summary: dict[str, Any]) -> list[str]:
    """Plain sentences from the numbers in a :func:`run_comparison` summary.

    Order: the claim verdicts, then per scale the omnibus entropy test, FFT-vs-other (or every
    pair without FFT) entropy contrasts and category-pattern divergences; then the scale
    trends of the claim-2 categories (and of any other category with a significant trend);
    then the plateau per strategy. "Significant" is at ``alpha`` after Holm correction.
    """
    if not summary:
        return ["No comparison results are available."]
    alpha = summary["alpha"]
    labels = _labels(summary)
    out: list[str] = []
    claims = summary.get("claims") or _claims(summary)

    c1 = claims.get("1", {})
    if c1.get("verdict") == "not assessable":
        out.append(f"Claim 1 (FFT attributions differ from and are more focused than LoRA/QLoRA) "
                   f"cannot be assessed: {c1.get('reason', 'no data')}.")
    elif c1:
        n = c1["n_comparisons"]
        out.append(f"Claim 1 (FFT attributions differ from and are more focused than LoRA/QLoRA): "
                   f"{c1['verdict']}. FFT attributions were significantly more concentrated "
                   f"(lower entropy) in {c1['more_focused']} of {n} FFT-vs-LoRA/QLoRA comparisons "
                   f"over {c1['n_scales']} scale{'s' if c1['n_scales'] != 1 else ''}"
                   + (f", significantly less concentrated in {c1['less_focused']}"
                      if c1["less_focused"] else "")
                   + f", and distributed attribution differently across word categories in "
                   f"{c1['different']} of {n}." + _claim_power(c1, "|r|", power.MEDIUM["rank-biserial r"]))
    c2 = claims.get("2", {})
    if c2.get("verdict") == "not assessable":
        out.append("Claim 2 (more weight on numbers and rule identifiers as scale grows) cannot "
                   f"be assessed: {c2.get('reason')}.")
    elif c2:
        def _fmt(items: list[str]) -> str:
            return ", ".join(f"{strategy_label(i.split(':')[0])} {CATEGORY_LABELS.get(i.split(':')[1], i)}"
                             for i in items) or "none"
        out.append(f"Claim 2 (more weight on numbers and rule identifiers as scale grows): "
                   f"{c2['verdict']} - significant rises in {len(c2['rising'])} of {c2['n_tests']} "
                   f"strategy x category tests ({_fmt(c2['rising'])})"
                   + (f"; significant falls: {_fmt(c2['falling'])}." if c2["falling"] else ".")
                   + _claim_power(c2, "a within-clause Spearman rho", power.MEDIUM["Spearman rho"]))
    quality = QUALITY_LABELS.get(summary.get("quality_metric") or "similarity", "rule similarity")
    c3 = claims.get("3", {})
    if c3.get("verdict") == "not assessable":
        out.append(f"Claim 3 ({quality} gains plateau beyond some scale) cannot be assessed: "
                   f"{c3.get('reason')}.")
    elif c3:
        pl = ", ".join(f"{strategy_label(s)} after {labels.get(v, v)}"
                       for s, v in c3["plateau"].items()) or "none"
        flat = ", ".join(strategy_label(s) for s in c3.get("flat", []))
        out.append(f"Claim 3 ({quality} gains plateau beyond some scale): {c3['verdict']} - "
                   f"gains then a plateau for {len(c3['plateau'])} of {c3['n_strategies']} "
                   f"strategies ({pl}; confirmed by the stricter CI check for "
                   f"{len(c3['confirmed'])})"
                   + (f"; no detectable gain at any step for {flat}." if flat else ".")
                   + (" Unconfirmed plateaus leave gains of the threshold size possible: more test "
                      "clauses would tell." if c3["verdict"] == "inconclusive" else ""))

    strategies = summary.get("strategies", [])
    for sc in [s["scale"] for s in summary.get("scales", [])]:
        where = labels.get(sc, sc)
        for r in summary.get("strategy_tests", []):
            if r["scale"] != sc or r["metric"] != "entropy" or r["test"] != "friedman":
                continue
            names = ", ".join(strategy_label(s) for s in r["strategies"].split(","))
            if r["p"] is None:
                out.append(f"At {where}, attribution entropy could not be tested across "
                           f"{names} ({r.get('note') or 'no test'}).")
            elif _sig(r["p"], alpha):
                out.append(f"At {where}, attribution entropy differs across {names} "
                           f"(Friedman χ² = {_num(r['statistic'], '.1f')}, p {_p_eq(r['p'])}, "
                           f"Kendall's W = {_num(r['effect_size'])}, n = {r['n']} clauses).")
            else:
                out.append(f"At {where}, no significant difference in attribution entropy across "
                           f"{names} (Friedman χ² = {_num(r['statistic'], '.1f')}, "
                           f"p {_p_eq(r['p'])}, Kendall's W = {_num(r['effect_size'])}, "
                           f"n = {r['n']} clauses).")
        has_fft = "fft" in strategies
        for r in summary.get("pairwise", []):
            if r["scale"] == sc and r["metric"] == "entropy" and (
                    not has_fft or "fft" in (r["a"], r["b"])):
                out.append(_focus_sentence(r, summary, labels))
        for r in summary.get("divergence", []):
            if r["scale"] != sc or (has_fft and "fft" not in (r["a"], r["b"])):
                continue
            a, b = strategy_label(r["a"]), strategy_label(r["b"])
            jsd = (f"mean per-clause JSD {_num(r['mean_jsd'], '.3f')} "
                   f"[{_num(r['ci_low'], '.3f')}, {_num(r['ci_high'], '.3f')}], n = {r['n']} clauses")
            if r["p"] is None:
                out.append(f"At {where}, the attribution patterns of {a} and {b} could not be "
                           f"tested ({r.get('note') or 'no test'}; {jsd}).")
            elif _sig(r["p_holm"], alpha):
                out.append(f"At {where}, {a} and {b} distribute attribution differently across "
                           f"word categories (category-profile JSD "
                           f"{_num(r['category_jsd'], '.3f')}, permutation p {_p_eq(r['p_holm'])} "
                           f"Holm-adjusted; {jsd}).")
            else:
                out.append(f"At {where}, no significant difference in how {a} and {b} distribute "
                           f"attribution across word categories (category-profile JSD "
                           f"{_num(r['category_jsd'], '.3f')}, permutation p {_p_eq(r['p_holm'])} "
                           f"Holm-adjusted; {jsd}{_power_text(r, 'a category-profile JSD')}).")

    for r in summary.get("trends", []):
        key = r["category"] in CLAIM2_CATEGORIES
        sig = _sig(r["p_holm"], alpha)
        if not key and not sig:
            continue
        who = strategy_label(r["strategy"])
        what = CATEGORY_LABELS.get(r["category"], r["category"])
        if r.get("cross_family"):
            who += f" across model families ({r['model_family'].replace('+', ', ')}: size and family confounded)"
        elif "+" not in str(r.get("model_family") or "+") and any(t.get("cross_family") for t in summary["trends"]):
            who += f" within the {r['model_family']} family"
        if r["p_holm"] is None and r["rho"] is None:
            out.append(f"For {who}, the trend of the share of attribution on {what} could not be "
                       f"tested ({r.get('note') or 'no test'}).")
            continue
        shares = " → ".join(f"{float(v) * 100:.0f}%" for v in str(r["mean_share"]).split(",") if v)
        detail = (f"Spearman ρ = {_num(r['rho'])} [{_num(r['ci_low'])}, {_num(r['ci_high'])}], "
                  f"Page's test p {_p_eq(r['p_holm'])} Holm-adjusted, n = {r['n']} clauses, "
                  f"{r['n_scales']} scales: {shares}")
        if r["p_holm"] is None:
            out.append(f"For {who}, the share of attribution on {what} was not trend-tested "
                       f"({r.get('note')}; {detail}).")
        elif sig:
            direction = "rises" if (r["rho"] or 0) > 0 else "falls"
            out.append(f"For {who}, the share of attribution on {what} {direction} with scale "
                       f"({detail}).")
        else:
            out.append(f"For {who}, no significant trend with scale in the share of attribution "
                       f"on {what} ({detail}{_power_text(r, 'a within-clause Spearman rho')}).")

    thr = summary.get("plateau_gain")
    for r in summary.get("plateau", []):
        who = strategy_label(r["strategy"])
        if (r["n_scales"] or 0) < 2:
            out.append(f"{who}: {quality} was measured at one scale only; no plateau test.")
            continue
        last = (f"last step {labels.get(r['last_from'], r['last_from'])} → "
                f"{labels.get(r['last_to'], r['last_to'])}: {_num(r['last_gain'], '+.3f')} "
                f"[{_num(r['last_ci_low'], '+.3f')}, {_num(r['last_ci_high'], '+.3f')}] per doubling")
        if r["pattern"] == "flat":
            out.append(f"{who} {quality} shows no detectable gain from "
                       f"{labels.get(r['plateau_scale'], r['plateau_scale'])} on: every gain per "
                       f"doubling is below {thr} with a CI covering zero ({last}).")
        elif r["plateau_scale"]:
            conf = ("confirmed: every later CI lies below the threshold" if r["confirmed"] else
                    f"not confirmed: gains of {thr} per doubling are not ruled out")
            out.append(f"{who} {quality} plateaus after "
                       f"{labels.get(r['plateau_scale'], r['plateau_scale'])}: every later gain per "
                       f"doubling is below {thr} with a CI covering zero ({last}; {conf}).")
        else:
            out.append(f"{who} {quality} shows no plateau up to "
                       f"{labels.get(r['last_to'], r['last_to'])} ({last}).")
    return out


__all__ = [
    "CATEGORIES", "CategoryShares", "Divergence", "KEY_CATEGORIES", "METRICS", "Plateau",
    "ScaleTrend", "StrategyComparison", "category_shares", "compare_strategies",
    "distribution_divergence", "findings", "format_p", "holm", "human_count", "load_attributions",
    "load_comparison", "load_eval", "parse_run_ids", "plateau", "plot_tables", "rank_biserial",
    "run_comparison", "save_comparison", "scale_label", "scale_trend", "strategy_label",
]
