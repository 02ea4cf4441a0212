"""The one result shape of every test, and the inference pieces all claims share.

As in :mod:`scipy.stats`, every test reports ``statistic`` and ``pvalue``, plus the number of
independent units it used (``n``: clauses), an effect size with its percentile bootstrap CI, and a
``note`` when the input was too small or degenerate to test (NaN, never an exception). Family-wise
corrections (:func:`holm`) and power belong to the claim that forms the family.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as st
from scipy.stats import DegenerateDataWarning

NAN = math.nan


@dataclass(frozen=True)
class TestResult:
    """One test: what scipy returns, plus the effect size and its CI at ``1 - alpha``."""

    __test__ = False  # not a pytest class

    test: str
    """``friedman``, ``wilcoxon``, ``page``, ``spearman``, ``permutation``, ``bootstrap`` or ``none``."""
    statistic: float = NAN
    pvalue: float = NAN
    n: int = 0
    effect: float = NAN
    effect_name: str = ""
    ci_low: float = NAN
    ci_high: float = NAN
    note: str = ""

    def significant(self, alpha: float) -> bool:
        return not math.isnan(self.pvalue) and self.pvalue < alpha


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


def bootstrap_ci(data: Sequence[np.ndarray], statistic: Callable[..., np.ndarray],
                 rng: np.random.Generator, n_resamples: int, confidence: float, *,
                 paired: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of a vectorized ``statistic(*samples, axis)`` that resamples
    clauses (axis 0 of each sample) with :func:`scipy.stats.bootstrap`.

    ``paired``: the samples are the same clauses (resampled jointly). Returns ``(low, high)``
    in the statistic's shape (floats for a scalar statistic); ``(nan, nan)`` when a sample is
    empty.
    Resamples on which the statistic is undefined (NaN: all differences zero, say) are left out
    of the percentiles rather than making the whole CI NaN.

    >>> rng = np.random.default_rng(0)
    >>> lo, hi = bootstrap_ci([np.arange(10.0)], np.mean, rng, 1000, 0.95)
    >>> bool(lo < 4.5 < hi)
    True
    """
    data = [np.asarray(s, dtype=float) for s in data]
    if any(len(s) == 0 for s in data):
        return (NAN, NAN)
    # scipy needs >= 2 clauses; every resample of one clause is that clause (and so is every
    # resample of the clause twice, where other samples have more)
    if all(len(s) == 1 for s in data):
        theta = np.asarray(statistic(*data, axis=-1), dtype=float)
        return (float(theta), float(theta)) if theta.ndim == 0 else (theta, theta)
    data = [np.concatenate([s, s]) if len(s) == 1 else s for s in data]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateDataWarning)
        res = st.bootstrap(data, statistic, n_resamples=n_resamples, vectorized=True, paired=paired,
                           confidence_level=confidence, method="percentile", rng=rng)
    lo, hi = np.asarray(res.confidence_interval.low), np.asarray(res.confidence_interval.high)
    if np.isnan(lo).any() or np.isnan(hi).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
            lo, hi = np.nanpercentile(res.bootstrap_distribution,
                                      [50 * (1 - confidence), 50 * (1 + confidence)], axis=-1)
    return (float(lo), float(hi)) if np.ndim(lo) == 0 else (lo, hi)


__all__ = ["TestResult", "bootstrap_ci", "holm"]
