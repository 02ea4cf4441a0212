"""Claim 2, scale: as models grow, more attribution goes to numeric constraints and rule
identifiers (:func:`category_shares`, :func:`scale_trend`, :func:`scale_trends`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as st

from ccattr import power
from ccattr.stats.labels import CLAIM2_CATEGORIES, category_sort, scale_order, strategy_sort
from ccattr.stats.results import NAN, TestResult, bootstrap_ci, holm

RHO_NAME = "Spearman rho"


@dataclass(frozen=True, eq=False)
class CategoryShares:
    """Result of :func:`category_shares`."""

    per_clause: pd.DataFrame
    """strategy, scale, n_params, clause_id, category, share, n_units, unit_fraction, has_category."""
    means: pd.DataFrame
    """strategy, scale, n_params, category, n, mean, ci_low, ci_high, unit_fraction, n_all,
    mean_all: means over the clauses that contain the category (``n``), and over all clauses
    (``mean_all``, zeros included)."""


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
    present = category_sort(d["category"].dropna().unique())
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
        lo, hi = bootstrap_ci((x,), np.mean, rng, n_bootstrap, confidence)
        rows.append({"strategy": strategy, "scale": scale, "n_params": sizes.get(scale),
                     "category": cat, "n": int(x.size), "mean": float(x.mean()) if x.size else NAN,
                     "ci_low": lo, "ci_high": hi,
                     "unit_fraction": float(g.loc[g["has_category"], "unit_fraction"].mean())
                     if x.size else NAN,
                     "n_all": len(g), "mean_all": float(g["share"].mean())})
    means = pd.DataFrame(rows, columns=["strategy", "scale", "n_params", "category", "n", "mean",
                                        "ci_low", "ci_high", "unit_fraction", "n_all", "mean_all"])
    return CategoryShares(per_clause=per_clause, means=means)


@dataclass(frozen=True, eq=False)
class ScaleTrend:
    """Result of :func:`scale_trend` (one strategy, one category), with its Holm family and
    power once :func:`scale_trends` has formed the families."""

    strategy: str
    category: str
    scales: tuple[str, ...]
    n_params: tuple[int, ...]
    mean_share: tuple[float, ...]
    page: TestResult
    """Page's trend test, two-sided; effect: the mean within-clause Spearman rho of share vs
    scale order (what Page's L measures)."""
    spearman: TestResult
    """Spearman rho of share vs log(n_params) over all (clause, scale) points, with its CI."""
    p_page_increasing: float = NAN
    model_family: str = ""
    cross_family: bool = False
    p_holm: float = NAN
    holm_family: str = ""
    mde: float = NAN
    verdict: str = ""

    @property
    def n(self) -> int:
        """Clauses containing the category, attributed at every scale."""
        return self.page.n

    @property
    def note(self) -> str:
        return "; ".join(t.note for t in (self.spearman, self.page) if t.note)

    def row(self) -> dict[str, Any]:
        s, p = self.spearman, self.page
        return {"strategy": self.strategy, "category": self.category, "n": self.n,
                "n_scales": len(self.scales), "scales": ",".join(self.scales),
                "n_params": ",".join(str(v) for v in self.n_params),
                "mean_share": ",".join(f"{v:.4f}" for v in self.mean_share),
                "rho": s.statistic, "ci_low": s.ci_low, "ci_high": s.ci_high, "p_spearman": s.pvalue,
                "page_L": p.statistic, "p_page_increasing": self.p_page_increasing,
                "p_page": p.pvalue, "p_holm": self.p_holm, "family": self.holm_family,
                "rho_within": p.effect, "note": self.note, "model_family": self.model_family,
                "cross_family": self.cross_family, "mde": self.mde, "verdict": self.verdict}


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman rho of ``x`` (1-d) with each row of ``y`` (B x m)."""
    rx = st.rankdata(x)
    rx = rx - rx.mean()
    ry = st.rankdata(y, axis=-1)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ry @ rx) / np.sqrt((ry ** 2).sum(axis=-1) * (rx ** 2).sum())


def _spearman(y: np.ndarray, n_params: tuple[int, ...], rng: np.random.Generator,
              n_bootstrap: int, confidence: float) -> TestResult:
    n, k = y.shape
    note = ("" if k >= 2 and n >= 3 and len(set(n_params)) >= 2 and np.ptp(y) > 0 else
            f"{n} clauses x {k} scale{'s' if k != 1 else ''}: too few for a trend" if k < 2 or n < 3
            else "all scales have the same parameter count" if len(set(n_params)) < 2
            else "share is constant")
    if note:
        return TestResult("spearman", n=n, effect_name=RHO_NAME, note=note)
    x = np.tile(np.log(np.asarray(n_params, dtype=float)), n)   # clause-major, as y.ravel()
    res = st.spearmanr(x, y.ravel())

    def rho(*columns: np.ndarray, axis: int = -1) -> np.ndarray:  # columns: scales, each (..., n)
        return _spearman_rows(x, np.stack(columns, axis=-1).reshape(*columns[0].shape[:-1], -1))

    lo, hi = bootstrap_ci(tuple(y.T), rho, rng, n_bootstrap, confidence, paired=True)
    return TestResult("spearman", float(res.statistic), float(res.pvalue), n, float(res.statistic),
                      RHO_NAME, lo, hi)


def _page(y: np.ndarray) -> tuple[TestResult, float]:
    """Two-sided Page test and its one-sided (increasing) p-value."""
    n, k = y.shape
    note = ("" if k >= 3 and n >= 2 and not np.all(np.ptp(y, axis=1) == 0) else
            f"Page's test needs >= 3 scales, got {k}" if k < 3
            else f"Page's test needs >= 2 clauses, got {n}" if n < 2
            else "share ties across scales on every clause")
    if note:
        return TestResult("page", n=n, effect_name=RHO_NAME, note=note), NAN
    inc = st.page_trend_test(y)
    dec = st.page_trend_test(y[:, ::-1])
    ranks = st.rankdata(y, axis=1) - (k + 1) / 2
    order = np.arange(k) - (k - 1) / 2
    denom = np.sqrt((ranks ** 2).sum(axis=1) * (order ** 2).sum())
    rho_within = float(np.mean(np.where(denom > 0, ranks @ order / np.where(denom > 0, denom, 1), 0.0)))
    return TestResult("page", float(inc.statistic), float(min(1.0, 2 * min(inc.pvalue, dec.pvalue))), n,
                      rho_within, RHO_NAME), float(inc.pvalue)


def scale_trend(long_df: pd.DataFrame, category: str, strategy: str, n_bootstrap: int = 1000,
                seed: int = 0, *, confidence: float = 0.95) -> ScaleTrend:
    """Does the share of attribution on ``category`` change with model scale (one strategy)?

    Uses the clauses that contain the category and were attributed at every scale of the
    strategy (clauses as blocks; scales ordered by parameter count).

    * Page's trend test (:func:`scipy.stats.page_trend_test`): clauses as rows, scales ascending
      as columns; the within-clause test of a monotone trend, the primary one. Needs >= 3 scales
      and >= 2 clauses. ``p_page_increasing`` is one-sided (share rises with scale); the test's
      ``pvalue`` is two-sided: ``min(1, 2 * min(p_increasing, p_decreasing))``.
    * Spearman's rho (:func:`scipy.stats.spearmanr`) of share vs log(n_params) over all
      (clause, scale) points, as the effect size, with a bootstrap CI resampling clauses.
      Its p-value treats points as independent; with the balanced design this is
      conservative (between-clause spread inflates the noise), so trust Page's p first.

    ``long_df`` is the attribution long table, or the ``per_clause`` table of
    :func:`category_shares` (to avoid recomputing shares).
    """
    rng = np.random.default_rng(seed)
    per_clause = long_df if "share" in long_df.columns else category_shares(
        long_df, n_bootstrap=100).per_clause
    g = per_clause[(per_clause["strategy"] == strategy) & (per_clause["category"] == category)]
    if g.empty:
        none = [TestResult(t, effect_name=RHO_NAME) for t in ("page", "spearman")]
        return ScaleTrend(strategy, category, (), (), (), replace(
            none[0], note="no data for this strategy and category"), none[1])
    scales = scale_order(g)
    sizes = g.groupby("scale")["n_params"].first()
    has = g.groupby("clause_id")["has_category"].any()
    wide = (g[g["clause_id"].isin(has[has].index)]
            .pivot_table(index="clause_id", columns="scale", values="share", aggfunc="mean")
            .reindex(columns=scales).dropna())
    y = wide.to_numpy(dtype=float)
    n_params = tuple(int(sizes[s]) for s in scales)
    mean_share = tuple(float(v) for v in (y.mean(axis=0) if len(y) else np.full(len(scales), NAN)))
    page, p_inc = _page(y)
    return ScaleTrend(strategy, category, tuple(scales), n_params, mean_share, page,
                      _spearman(y, n_params, rng, n_bootstrap, confidence), p_inc)


def _claim2_or_exploratory(category: str) -> str:
    return "claim2" if category in CLAIM2_CATEGORIES else "exploratory"


def scale_trends(long_df: pd.DataFrame, shares: CategoryShares, categories: Sequence[str],
                 alpha: float = 0.05, *, n_bootstrap: int = 1000, seed: int = 0,
                 holm_family: Callable[[str], str] = _claim2_or_exploratory) -> list[ScaleTrend]:
    """:func:`scale_trend` of every strategy x category, Holm-corrected (two-sided Page p) within
    the families ``holm_family(category)`` names - by default two: the claim-2 tests (numbers,
    rule ids) and the exploratory rest - each test powered at alpha / m of its family (the MDE
    is a within-clause Spearman rho). ``shares.per_clause`` may hold any per-clause value in its
    ``share`` column (:mod:`ccattr.stats.fidelity` passes fidelity rates).

    Scales of different model families differ in more than size: a trend across families
    confounds the two, so it is flagged (``cross_family``), and each family with >= 3 scales gets
    its own trend too."""
    fam_of = (long_df.groupby("scale")["family"].first().dropna().astype(str).to_dict()
              if "family" in long_df.columns else {})
    families = sorted(set(fam_of.values()))
    subsets: list[tuple[str, list[str] | None]] = [("+".join(families) or "unknown", None)]
    if len(families) > 1:
        subsets += [(f, [sc for sc, g in fam_of.items() if g == f]) for f in families
                    if sum(g == f for g in fam_of.values()) >= 3]
    trends = []
    for strategy in strategy_sort(long_df["strategy"].unique()):
        for cat in categories:
            for fam, scales_in in subsets:
                pc = shares.per_clause if scales_in is None else \
                    shares.per_clause[shares.per_clause["scale"].isin(scales_in)]
                res = scale_trend(pc, cat, strategy, n_bootstrap, seed, confidence=1 - alpha)
                trends.append(replace(res, model_family=fam,
                                      cross_family=scales_in is None and len(families) > 1))
    family_of = np.array([holm_family(t.category) for t in trends])
    p_holm = np.full(len(trends), np.nan)
    for fam in dict.fromkeys(family_of):
        mask = family_of == fam
        p_holm[mask] = holm([t.page.pvalue for t, m in zip(trends, mask, strict=True) if m])
    out = []
    for t, fam, ph in zip(trends, family_of, p_holm, strict=True):
        mde = power.page_mde(t.n, len(t.scales), alpha / int((family_of == fam).sum()))
        out.append(replace(t, p_holm=float(ph), holm_family=str(fam), mde=mde,
                           verdict=power.verdict(float(ph), alpha, mde, power.MEDIUM[RHO_NAME])))
    return out


def trend_table(trends: Sequence[ScaleTrend]) -> pd.DataFrame:
    return pd.DataFrame([t.row() for t in trends])


__all__ = ["CategoryShares", "ScaleTrend", "category_shares", "scale_trend", "scale_trends",
           "trend_table"]
