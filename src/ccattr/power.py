"""Statistical power: the smallest effect each of the study's tests can detect at its n, and how
many clauses a cell needs for a given effect.

A non-significant test says little unless it could have seen an effect worth seeing. Every
figure here is a *minimum detectable effect* (MDE): the smallest effect, in the unit the test
reports, that the same scipy test detects with probability ``power`` (default 0.8) at level
``alpha``, found by simulation (common random numbers, bisection on the effect):

* paired Wilcoxon signed-rank (:func:`scipy.stats.wilcoxon`), effect = matched-pairs
  rank-biserial r. Differences are simulated as ``N(mu, 1)``; under that shift model the
  population rank-biserial is ``2 Phi(sqrt(2) mu) - 1`` (the chance a Walsh average is
  positive), which maps r to mu;
* Friedman (:func:`scipy.stats.friedmanchisquare`), effect = Kendall's W: k equally spaced
  treatment shifts plus ``N(0, 1)`` noise per block; the MDE is the mean sample W at the shift
  where power reaches 0.8;
* Page's trend test (two-sided, as the comparison uses it), effect = the mean within-clause
  Spearman rho between scale order and share (Page's L is a linear function of it): a linear
  trend plus ``N(0, 1)`` noise per clause; the null distribution of L is simulated too;
* the category-profile divergence permutation test: the observed per-clause profile
  differences with random signs (the test's own null) plus a systematic shift; the MDE is the
  category-profile JSD of that shift;
* the plateau's gain per doubling: a CI-based check, so ``(z_{1-alpha/2} + z_power) * SE`` with
  the SE read from the bootstrap CI (a normal approximation).

Verdicts (:func:`verdict`) then separate ``significant``, ``no effect`` (not significant, and
the test would have detected a medium effect: :data:`MEDIUM`) and ``inconclusive`` (not
significant, and only effects above medium were detectable).

    >>> wilcoxon_mde(6) > 0.9, 0.4 < wilcoxon_mde(40) < 0.6
    (True, True)
    >>> clauses_needed(0.5, "wilcoxon")   # paired clauses for r = 0.5 at 80% power, alpha 0.05
    38
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import stats as st
from scipy.special import rel_entr

__all__ = ["MEDIUM", "POWER", "clauses_needed", "divergence_mde", "friedman_mde", "gain_mde", "jsd", "page_mde",
           "verdict", "wilcoxon_mde"]

#: The default power the MDEs are stated at.
POWER = 0.8
#: A "medium" effect per effect size: what a study should be able to see. Rank-biserial r 0.5
#: (the study's planning target), Kendall's W 0.3 and within-clause Spearman rho 0.5 (Cohen's
#: moderate agreement / correlation bands for these rank statistics).
MEDIUM: dict[str, float] = {"rank-biserial r": 0.5, "Kendall's W": 0.3, "Spearman rho": 0.5}
_SIMS = 2000
_SEED = 20261202


def _bisect(power_at, lo: float, hi: float, target: float, steps: int = 18) -> float:
    """Smallest effect in [lo, hi] with ``power_at(effect) >= target`` (power grows with the
    effect); ``nan`` when even ``hi`` falls short."""
    if power_at(hi) < target:
        return math.nan
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if power_at(mid) < target else (lo, mid)
    return hi


@lru_cache(maxsize=256)
def wilcoxon_mde(n: int, alpha: float = 0.05, power: float = POWER) -> float:
    """Smallest |rank-biserial r| a two-sided Wilcoxon signed-rank test detects at ``n`` pairs
    (``nan`` below 5 pairs, which the comparison does not test, or if even r -> 1 falls short)."""
    if n < 5:
        return math.nan
    noise = np.random.default_rng([_SEED, n]).standard_normal((_SIMS, n))

    def power_at(r: float) -> float:
        mu = st.norm.ppf((1 + r) / 2) / math.sqrt(2)
        return float((st.wilcoxon(noise + mu, axis=1, zero_method="wilcox").pvalue < alpha).mean())

    return _bisect(power_at, 0.0, 0.999, power)


@lru_cache(maxsize=256)
def friedman_mde(n: int, k: int, alpha: float = 0.05, power: float = POWER) -> float:
    """Smallest Kendall's W a Friedman test over ``k`` strategies detects with ``n`` clauses."""
    if n < 5 or k < 3:
        return math.nan
    noise = np.random.default_rng([_SEED, n, k]).standard_normal((_SIMS, n, k))
    shape = np.arange(k) - (k - 1) / 2

    def run(delta: float):
        x = noise + delta * shape
        res = st.friedmanchisquare(*np.moveaxis(x, 2, 0), axis=1)
        return res.pvalue, res.statistic / (n * (k - 1))

    delta = _bisect(lambda d: float((run(d)[0] < alpha).mean()), 0.0, 10.0, power)
    return math.nan if math.isnan(delta) else float(run(delta)[1].mean())


def _page_l(x: np.ndarray) -> np.ndarray:
    """Page's L of each (clauses x scales) matrix in ``x`` (..., n, m): sum_j j * R_j."""
    ranks = st.rankdata(x, axis=-1)
    return (ranks * np.arange(1, x.shape[-1] + 1)).sum(axis=(-2, -1))


@lru_cache(maxsize=256)
def page_mde(n: int, m: int, alpha: float = 0.05, power: float = POWER) -> float:
    """Smallest mean within-clause Spearman rho (scale order vs share) that the two-sided Page
    trend test detects with ``n`` clauses and ``m`` scales."""
    if n < 2 or m < 3:
        return math.nan
    rng = np.random.default_rng([_SEED, n, m])
    null = _page_l(rng.standard_normal((4 * _SIMS, n, m)))
    lo_crit, hi_crit = np.quantile(null, [alpha / 2, 1 - alpha / 2])
    noise = rng.standard_normal((_SIMS, n, m))
    trend = np.arange(m) - (m - 1) / 2

    def run(beta: float):
        x = noise + beta * trend
        big = _page_l(x)
        return (big > hi_crit) | (big < lo_crit), x

    beta = _bisect(lambda b: float(run(b)[0].mean()), 0.0, 20.0, power)
    if math.isnan(beta):
        return math.nan
    x = run(beta)[1]
    rx = st.rankdata(x, axis=-1) - (m + 1) / 2
    rt = np.arange(m) - (m - 1) / 2
    rho = (rx * rt).sum(-1) / np.sqrt((rt ** 2).sum() * (rx ** 2).sum(-1).clip(1e-12))
    return float(rho.mean())


def jsd(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise Jensen-Shannon divergence, base 2 (0 = identical, 1 = disjoint); rows are
    normalized to sum to 1.

    The terms of :func:`scipy.spatial.distance.jensenshannon`, without its square root: for two
    rows equal up to rounding, scipy's sum comes out a hair below zero and its root is NaN (about
    half the time, measured), and a NaN statistic silently counts as "not extreme" - or, when it
    is the observed one, makes every permutation look less extreme than it.
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = (p + q) / 2
    return np.clip((rel_entr(p, m).sum(axis=-1) + rel_entr(q, m).sum(axis=-1)) / (2 * np.log(2)), 0.0, None)


def divergence_mde(diff: np.ndarray, base: np.ndarray, alpha: float = 0.05, power: float = POWER,
                   n_sims: int = 200, n_permutations: int = 200, seed: int = 0) -> float:
    """Smallest category-profile JSD the sign-flip permutation test on ``diff`` (clauses x
    categories: per-clause profile of A minus profile of B) detects, for a systematic shift of
    attribution out of the largest category of ``base`` (the mean profile) into the second.
    The noise is the data's own: ``diff`` centred, with random signs."""
    n, c = diff.shape
    if n < 5 or c < 2:
        return math.nan
    rng = np.random.default_rng(seed)
    centred = diff - diff.mean(axis=0)
    order = np.argsort(-base)
    direction = np.zeros(c)
    direction[order[0]], direction[order[1]] = -1.0, 1.0
    flips = rng.choice([-1.0, 1.0], size=(n_sims, n, 1))
    swaps = rng.integers(0, 2, size=(n_permutations, n)).astype(float)
    ceiling = float(base[order[0]])  # cannot move more than the largest share holds

    def detect(delta: float) -> float:
        d = flips * centred + delta * direction                       # (S, n, c)
        a = np.clip(base + d.mean(axis=1) / 2, 1e-12, None)            # the two mean profiles
        b = np.clip(base - d.mean(axis=1) / 2, 1e-12, None)
        observed = jsd(a, b)
        moved = np.einsum("pn,snc->spc", swaps, d) / n                 # label swaps within clauses
        pa = np.clip(a[:, None] - moved, 1e-12, None)
        pb = np.clip(b[:, None] + moved, 1e-12, None)
        null = jsd(pa, pb)
        p = (1 + (null >= observed[:, None] * (1 - 1e-9)).sum(-1)) / (1 + n_permutations)
        return float((p < alpha).mean())

    delta = _bisect(detect, 0.0, ceiling, power, steps=12)
    if math.isnan(delta):
        return math.nan
    a, b = base + delta * direction / 2, base - delta * direction / 2
    return float(jsd(np.clip(a, 0, None), np.clip(b, 0, None)))


def gain_mde(ci_low: float, ci_high: float, alpha: float = 0.05, power: float = POWER) -> float:
    """Smallest gain per doubling a step's bootstrap CI would tell from zero with ``power``:
    ``(z_{1-alpha/2} + z_power) * SE``, the SE read from the CI's half-width."""
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (ci_low, ci_high)):
        return math.nan
    z = st.norm.ppf(1 - alpha / 2)
    return float((ci_high - ci_low) / 2 / z * (z + st.norm.ppf(power)))


def clauses_needed(effect: float, test: str = "wilcoxon", power: float = POWER, alpha: float = 0.05,
                   k: int = 3, m: int = 3, max_n: int = 2000) -> int | None:
    """Clauses per cell for ``test`` (``wilcoxon``: rank-biserial r; ``friedman``: Kendall's W
    with ``k`` strategies; ``page``: within-clause Spearman rho over ``m`` scales) to detect
    ``effect`` with ``power``; None if even ``max_n`` does not."""
    mde = {"wilcoxon": lambda n: wilcoxon_mde(n, alpha, power),
           "friedman": lambda n: friedman_mde(n, k, alpha, power),
           "page": lambda n: page_mde(n, m, alpha, power)}[test]
    ok = lambda n: not math.isnan(mde(n)) and mde(n) <= effect  # noqa: E731
    lo, hi = 2, 8
    while not ok(hi):
        if hi >= max_n:
            return None
        lo, hi = hi, min(max_n, hi * 2)
    while hi - lo > 1:  # MDE falls with n: bisect on n
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if not ok(mid) else (lo, mid)
    return hi


def verdict(p: float | None, alpha: float, effect_mde: float | None, medium: float | None) -> str:
    """``significant`` | ``no effect`` (not significant; a medium effect would have been seen) |
    ``inconclusive`` (not significant; only effects above medium were detectable) |
    ``not tested``."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "not tested"
    if p < alpha:
        return "significant"
    if effect_mde is None or medium is None or math.isnan(effect_mde) or effect_mde > medium:
        return "inconclusive"
    return "no effect"
