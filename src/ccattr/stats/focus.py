"""Claim 1, focus: full fine-tuning (FFT) gives attribution patterns that *differ* from LoRA /
QLoRA (:func:`distribution_divergence`) and are *more focused* (:func:`compare_strategies` on the
per-clause entropy, Gini and top-k share).

Clauses are the independent unit and the design is paired: every model attributes the same test
clauses, so each test uses the clauses present for all strategies it compares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as st

from ccattr import power
from ccattr.stats.labels import n_params_of, strategy_sort
from ccattr.stats.results import NAN, TestResult, bootstrap_ci, holm

R_NAME, W_NAME = "rank-biserial r", "Kendall's W"


def _rank_biserial(d: np.ndarray) -> np.ndarray:
    """Matched-pairs rank-biserial correlation of the differences along the last axis."""
    d = np.asarray(d, dtype=float)
    nonzero = d != 0
    ranks = st.rankdata(np.abs(d), axis=-1)
    # zeros rank lowest; dropping them (Wilcoxon's "wilcox" zero method) shifts the others down
    ranks = np.where(nonzero, ranks - (~nonzero).sum(axis=-1, keepdims=True), 0.0)
    t_plus = np.where(d > 0, ranks, 0.0).sum(axis=-1)
    t_minus = np.where(d < 0, ranks, 0.0).sum(axis=-1)
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
    return float(_rank_biserial(np.asarray(x, dtype=float) - np.asarray(y, dtype=float)))


def _kendall_w(*columns: np.ndarray, axis: int = -1) -> np.ndarray:
    """Kendall's W = Friedman chi2 / (n (k - 1)) of k strategies (one array each, clauses along
    the last axis), tie-corrected as in scipy's Friedman test."""
    x = np.stack(columns, axis=-1)                                          # (..., n, k)
    n, k = x.shape[-2:]
    rank_sums = st.rankdata(x, axis=-1).sum(axis=-2)
    # sum over tie groups of t^3 - t, as sum over values of (size of its group)^2 - 1
    ties = ((x[..., :, None] == x[..., None, :]).sum(axis=-1) ** 2 - 1).sum(axis=(-2, -1))
    chi2 = 12.0 / (n * k * (k + 1)) * (rank_sums ** 2).sum(axis=-1) - 3.0 * n * (k + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = 1.0 - ties / (n * k * (k * k - 1))
        return np.where(c > 0, chi2 / c / (n * (k - 1)), np.nan)


@dataclass(frozen=True)
class PairTest:
    """One pairwise Wilcoxon test of a :class:`StrategyComparison`; effect: r of ``a - b``."""

    a: str
    b: str
    median_a: float
    median_b: float
    result: TestResult
    p_holm: float = NAN
    mde: float = NAN
    """Smallest |r| detected with 80% power at the family's first Holm level (:mod:`ccattr.power`)."""
    verdict: str = ""


PAIR_COLUMNS = ["scale", "n_params", "metric", "a", "b", "n", "median_a", "median_b", "statistic",
                "p", "p_holm", "r", "ci_low", "ci_high", "note", "mde", "verdict"]


@dataclass(frozen=True, eq=False)
class StrategyComparison:
    """Result of :func:`compare_strategies` (one scale, one metric)."""

    scale: str
    n_params: int | None
    metric: str
    strategies: tuple[str, ...]
    medians: dict[str, float]
    omnibus: TestResult
    """Friedman with Kendall's W (>= 3 strategies), Wilcoxon with r (2) or ``none``."""
    pairs: tuple[PairTest, ...]
    alpha: float
    mde: float = NAN
    verdict: str = ""

    @property
    def n(self) -> int:
        """Clauses present (non-missing metric) for every strategy."""
        return self.omnibus.n

    @property
    def significant(self) -> bool:
        return self.omnibus.significant(self.alpha)

    @property
    def pairwise(self) -> pd.DataFrame:
        rows = [{"scale": self.scale, "n_params": self.n_params, "metric": self.metric, "a": p.a,
                 "b": p.b, "n": p.result.n, "median_a": p.median_a, "median_b": p.median_b,
                 "statistic": p.result.statistic, "p": p.result.pvalue, "p_holm": p.p_holm,
                 "r": p.result.effect, "ci_low": p.result.ci_low, "ci_high": p.result.ci_high,
                 "note": p.result.note, "mde": p.mde, "verdict": p.verdict} for p in self.pairs]
        return pd.DataFrame(rows, columns=PAIR_COLUMNS)

    def row(self) -> dict[str, Any]:
        o = self.omnibus
        return {"scale": self.scale, "n_params": self.n_params, "metric": self.metric,
                "strategies": ",".join(self.strategies), "k": len(self.strategies), "n": o.n,
                "test": o.test, "statistic": o.statistic, "p": o.pvalue,
                "effect_name": o.effect_name, "effect_size": o.effect,
                "ci_low": o.ci_low, "ci_high": o.ci_high,
                **{f"median_{s}": v for s, v in self.medians.items()},
                "note": o.note, "mde": self.mde, "verdict": self.verdict}


def _wilcoxon_pair(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_bootstrap: int,
                   confidence: float) -> TestResult:
    n = len(x)
    d = x - y
    if n < 5:
        return TestResult("wilcoxon", n=n, effect_name=R_NAME, note=f"only {n} paired clauses (need >= 5)")
    if not np.any(d != 0):
        return TestResult("wilcoxon", n=n, effect=0.0, effect_name=R_NAME,
                          note="all paired differences are zero")
    res = st.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided")
    lo, hi = bootstrap_ci((x, y), lambda a, b, axis: _rank_biserial(a - b), rng, n_bootstrap,
                          confidence, paired=True)
    nonzero = int(np.count_nonzero(d))
    return TestResult("wilcoxon", float(res.statistic), float(res.pvalue), n,
                      float(_rank_biserial(d)), R_NAME, lo, hi,
                      f"only {nonzero} non-zero differences" if nonzero < 5 else "")


def _friedman(x: np.ndarray, rng: np.random.Generator, n_bootstrap: int,
              confidence: float) -> TestResult:
    n, k = x.shape
    if n < 5:
        return TestResult("friedman", n=n, effect_name=W_NAME,
                          note=f"only {n} clauses present for all {k} strategies (need >= 5)")
    if np.all(np.ptp(x, axis=1) == 0):
        return TestResult("friedman", n=n, effect_name=W_NAME, note="all strategies tie on every clause")
    res = st.friedmanchisquare(*x.T)
    lo, hi = bootstrap_ci(tuple(x.T), _kendall_w, rng, n_bootstrap, confidence, paired=True)
    return TestResult("friedman", float(res.statistic), float(res.pvalue), n,
                      float(res.statistic) / (n * (k - 1)), W_NAME, lo, hi)


def compare_strategies(clause_df: pd.DataFrame, metric: str, scale: str, alpha: float = 0.05, *,
                       strategies: Sequence[str] | None = None, n_bootstrap: int = 1000,
                       seed: int = 0) -> StrategyComparison:
    """Do fine-tuning strategies differ in attribution focus at one scale?

    Paired design: clauses are blocks, and only clauses with a value for *every* strategy are
    used. Omnibus: Friedman's test (:func:`scipy.stats.friedmanchisquare`, chi-square
    approximation; needs >= 3 strategies) with Kendall's W as effect size. Pairwise: two-sided
    Wilcoxon signed-rank tests (:func:`scipy.stats.wilcoxon`, zero differences dropped) with
    Holm-adjusted p-values (``p_holm``) and the matched-pairs rank-biserial correlation r of
    ``a - b`` (r > 0: ``a`` higher). With two strategies the omnibus test *is* the Wilcoxon.
    Each test carries its power: the MDE at its n (a pair at the first Holm level, alpha / m)
    and a verdict (:func:`ccattr.power.verdict`).

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
        strategy_sort(d["strategy"].dropna().unique()))
    wide = (d[d["strategy"].isin(strategies)].groupby(["clause_id", "strategy"])[metric].mean()
            .unstack("strategy").reindex(columns=list(strategies)).dropna())
    n, k = len(wide), len(strategies)
    x = wide.to_numpy(dtype=float)
    medians = {s: (float(np.median(x[:, i])) if n else math.nan) for i, s in enumerate(strategies)}

    tests = [(i, j, _wilcoxon_pair(x[:, i], x[:, j], rng, n_bootstrap, confidence))
             for i, j in combinations(range(k), 2)]
    m = len(tests)
    pairs = []
    for (i, j, res), p_holm in zip(tests, holm([t.pvalue for *_, t in tests]), strict=True):
        mde = power.wilcoxon_mde(n, alpha / m)
        pairs.append(PairTest(strategies[i], strategies[j], medians[strategies[i]],
                              medians[strategies[j]], res, float(p_holm), mde,
                              power.verdict(float(p_holm), alpha, mde, power.MEDIUM[R_NAME])))

    if k < 2:
        omnibus, mde = TestResult("none", n=n, note=f"needs >= 2 strategies, got {k}"), NAN
    elif k == 2:
        omnibus, mde = pairs[0].result, power.wilcoxon_mde(n, alpha)
    else:
        omnibus, mde = _friedman(x, rng, n_bootstrap, confidence), power.friedman_mde(n, k, alpha)
    return StrategyComparison(scale, n_params_of(d, scale), metric, strategies, medians, omnibus,
                              tuple(pairs), alpha, mde, power.verdict(
                                  omnibus.pvalue, alpha, mde, power.MEDIUM.get(omnibus.effect_name)))


# --------------------------------------------------------------------------- divergence


@dataclass(frozen=True, eq=False)
class Divergence:
    """Result of :func:`distribution_divergence`."""

    scale: str
    n_params: int | None
    strategy_a: str
    strategy_b: str
    result: TestResult
    """The permutation test: ``statistic`` is the category-profile JSD (between the two
    strategies' mean category shares); ``effect`` is the mean over clauses of the unit-level
    Jensen-Shannon divergence (base 2, in [0, 1]), with its bootstrap CI."""
    n_permutations: int
    per_clause: pd.DataFrame
    """clause_id, jsd: the unit-level JSD of every clause attributed under both strategies."""
    mde: float = NAN
    """Smallest category-profile JSD the test detects with 80% power (:func:`ccattr.power.divergence_mde`)."""
    medium: float = NAN
    """The category-profile JSD of moving 10 points of attribution between the two largest
    categories: the "medium" effect this test's verdict is read against."""
    p_holm: float = NAN
    verdict: str = ""

    @property
    def n(self) -> int:
        return self.result.n

    def row(self) -> dict[str, Any]:
        r = self.result
        return {"scale": self.scale, "n_params": self.n_params, "a": self.strategy_a,
                "b": self.strategy_b, "n": r.n, "mean_jsd": r.effect, "ci_low": r.ci_low,
                "ci_high": r.ci_high, "category_jsd": r.statistic, "p": r.pvalue,
                "p_holm": self.p_holm, "n_permutations": self.n_permutations, "mde": self.mde,
                "medium": self.medium, "verdict": self.verdict, "note": r.note}


def _profile_jsd(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """JSD of the mean category profiles of two strategies (categories x clauses on ``axis``)."""
    return power.jsd(np.mean(a, axis=axis), np.mean(b, axis=axis))


def _unit_matrices(d: pd.DataFrame, a: str, b: str, clauses: list[str]):
    """Per-clause attribution of ``a`` and ``b`` as padded (clause x unit) rows summing to 1,
    plus the units' categories and positions; zero padding does not change the JSD."""
    notes = []
    units = (d.pivot_table(index=["clause_id", "unit_index"], columns="strategy",
                           values="norm_score", aggfunc="sum").reindex(columns=[a, b]))
    mismatched = int(units.isna().any(axis=1).sum())
    if mismatched:
        notes.append(f"{mismatched} units present for one strategy only (counted as 0)")
    units = units.fillna(0.0)
    cats = d.groupby(["clause_id", "unit_index"])["category"].first().reindex(units.index)
    pos = units.groupby(level="clause_id").cumcount().to_numpy()
    row = pd.Index(clauses).get_indexer(units.index.get_level_values("clause_id"))
    n, width = len(clauses), int(pos.max()) + 1
    counts = np.bincount(row, minlength=n)
    mats, bad = [], 0
    for s in (a, b):
        m = np.zeros((n, width))
        m[row, pos] = np.clip(units[s].to_numpy(dtype=float), 0, None)
        total = m.sum(axis=1)
        for i in np.flatnonzero(total <= 0):  # all-zero: uniform over the real units, not the padding
            m[i, :counts[i]] = 1.0
        bad += int((total <= 0).sum())
        mats.append(m / m.sum(axis=1, keepdims=True))
    if bad:
        notes.append(f"{bad} all-zero attributions treated as uniform")
    return mats[0], mats[1], cats, row, pos, notes


def distribution_divergence(long_df: pd.DataFrame, strategy_a: str, strategy_b: str, scale: str,
                            n_permutations: int = 1000, seed: int = 0, *,
                            n_bootstrap: int = 1000, confidence: float = 0.95,
                            mde_alpha: float | None = None) -> Divergence:
    """Do two strategies put attribution on *different* words of the same clauses?

    Per clause, the two ``norm_score`` distributions are aligned by ``unit_index`` (a unit
    missing on one side counts as 0) and compared with the Jensen-Shannon divergence
    (:func:`scipy.spatial.distance.jensenshannon` squared, base 2: 0 = identical, 1 = disjoint).
    The mean over clauses (with a bootstrap CI) says *how far apart* the patterns are.

    Testing: the per-clause JSD is symmetric, so swapping the strategies' labels within a
    clause leaves it unchanged - a permutation null on it is degenerate, and with a single
    attribution per (strategy, clause) there is no within-strategy noise to compare it with.
    The test therefore uses what clauses share - word categories: the statistic is the JSD
    between the two strategies' mean category profiles, and :func:`scipy.stats.permutation_test`
    (``permutation_type="samples"``) swaps the two labels within each clause, one-sided
    (``greater``), ``n_permutations`` times (exactly, over all 2^n swaps, when that is fewer).
    A small p means the strategies *systematically* weight word categories differently; a
    large one with a large mean JSD means clause-specific disagreement without a pattern.

    Assumptions: clauses independent; under the null the two strategies' attributions of a
    clause are exchangeable; units and categories are the same for both strategies (the
    segmentation is done on the clause text, not by the model). ``mde_alpha``: also compute
    the test's power (``mde``, ``medium``) at that level.
    """
    rng = np.random.default_rng(seed)
    d = long_df[(long_df["scale"] == scale) & long_df["strategy"].isin([strategy_a, strategy_b])]
    base = dict(scale=scale, n_params=n_params_of(long_df, scale), strategy_a=strategy_a,
                strategy_b=strategy_b, n_permutations=n_permutations)
    both = d.groupby("clause_id")["strategy"].nunique()
    clauses = sorted(both[both == 2].index)
    n = len(clauses)
    name = "mean per-clause JSD"
    if n == 0 or strategy_a == strategy_b:
        empty = pd.DataFrame({"clause_id": pd.Series(dtype=str), "jsd": pd.Series(dtype=float)})
        return Divergence(**base, per_clause=empty, result=TestResult(
            "permutation", n=n, effect_name=name, note="no clauses attributed under both strategies"))
    pa, pb, cats, row, pos, notes = _unit_matrices(d[d["clause_id"].isin(clauses)], strategy_a,
                                                   strategy_b, clauses)
    jsd = power.jsd(pa, pb)
    lo, hi = bootstrap_ci((jsd,), np.mean, rng, n_bootstrap, confidence)

    # per-clause category profiles (clause x category), then the test on their means
    cat_names = sorted(cats.dropna().unique())
    cidx = pd.Index(cat_names).get_indexer(cats.to_numpy())
    qa, qb = np.zeros((n, len(cat_names))), np.zeros((n, len(cat_names)))
    np.add.at(qa, (row, cidx), pa[row, pos])
    np.add.at(qb, (row, cidx), pb[row, pos])
    diff = qa - qb
    observed, p = float(_profile_jsd(qa, qb, axis=0)), NAN
    if n < 5:
        notes.append(f"only {n} clauses (need >= 5 for the permutation test)")
    elif not np.any(np.abs(diff) > 1e-12):
        notes.append("identical category profiles on every clause")
    else:
        p = float(st.permutation_test((qa, qb), _profile_jsd, permutation_type="samples",
                                      vectorized=True, n_resamples=n_permutations,
                                      alternative="greater", rng=rng).pvalue)
    mde = medium = NAN
    if mde_alpha is not None and n >= 5 and len(cat_names) >= 2:
        profile = (qa.sum(axis=0) + qb.sum(axis=0)) / (2 * n)
        mde = power.divergence_mde(diff, profile, alpha=mde_alpha, seed=seed)
        top = np.argsort(-profile)[:2]
        shift = np.zeros_like(profile)
        shift[top] = (-0.05, 0.05)
        medium = float(power.jsd(np.clip(profile + shift, 0, None), np.clip(profile - shift, 0, None)))
    result = TestResult("permutation", observed, p, n, float(jsd.mean()), name, lo, hi, "; ".join(notes))
    return Divergence(**base, result=result, per_clause=pd.DataFrame({"clause_id": clauses, "jsd": jsd}),
                      mde=mde, medium=medium)


def divergences(long_df: pd.DataFrame, scale: str, alpha: float = 0.05, *,
                n_permutations: int = 1000, n_bootstrap: int = 1000,
                seed: int = 0) -> list[Divergence]:
    """:func:`distribution_divergence` of every pair of strategies at ``scale``: one Holm family,
    each test powered at alpha / m (the level the first Holm step uses; conservative)."""
    present = strategy_sort(long_df.loc[long_df["scale"] == scale, "strategy"].unique())
    pairs = list(combinations(present, 2))
    res = [distribution_divergence(long_df, a, b, scale, n_permutations, seed, n_bootstrap=n_bootstrap,
                                   confidence=1 - alpha, mde_alpha=alpha / max(1, len(pairs)))
           for a, b in pairs]
    return [replace(r, p_holm=float(ph), verdict=power.verdict(float(ph), alpha, r.mde, r.medium))
            for r, ph in zip(res, holm([r.result.pvalue for r in res]), strict=True)]


__all__ = ["Divergence", "PairTest", "StrategyComparison", "compare_strategies",
           "distribution_divergence", "divergences", "rank_biserial"]
