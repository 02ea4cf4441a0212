"""Calibration of the power figures: at its minimum detectable effect a test rejects about 80%
of the time on fresh simulated data (other seeds than the ones the MDE was found with), and
the clause counts and verdicts follow from them."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from scipy import stats as st

import ccattr.power
from ccattr import power
from ccattr.stats import rank_biserial


def test_doctests():
    assert doctest.testmod(ccattr.power).failed == 0


def _reject_rate(pvalues: np.ndarray, alpha: float = 0.05) -> float:
    return float((pvalues < alpha).mean())


@pytest.mark.parametrize("n", [8, 16, 40])
def test_wilcoxon_mde_has_80_percent_power_on_fresh_data(n):
    r = power.wilcoxon_mde(n)
    mu = st.norm.ppf((1 + r) / 2) / math.sqrt(2)
    x = np.random.default_rng(99 + n).normal(mu, 1.0, (4000, n))
    assert _reject_rate(st.wilcoxon(x, axis=1).pvalue) == pytest.approx(0.8, abs=0.04)
    # and the effect size is in the unit the comparison reports: the sample rank-biserial r
    observed = np.mean([rank_biserial(row, np.zeros(n)) for row in x[:500]])
    assert observed == pytest.approx(r, abs=0.06)


def test_friedman_and_page_mdes_are_calibrated():
    n, k = 16, 3
    w = power.friedman_mde(n, k)
    rng = np.random.default_rng(7)
    # find the shift giving that mean W, then check its power on fresh noise
    shape = np.arange(k) - (k - 1) / 2
    deltas = np.linspace(0.0, 2.0, 81)
    noise = rng.standard_normal((1000, n, k))
    mean_w = [st.friedmanchisquare(*np.moveaxis(noise + d * shape, 2, 0), axis=1).statistic.mean() / (n * (k - 1))
              for d in deltas]
    delta = float(np.interp(w, mean_w, deltas))
    fresh = np.random.default_rng(8).standard_normal((4000, n, k)) + delta * shape
    assert _reject_rate(st.friedmanchisquare(*np.moveaxis(fresh, 2, 0), axis=1).pvalue) == pytest.approx(0.8, abs=0.05)
    assert 0 < power.page_mde(16, 3) < power.page_mde(6, 3) < 1


def test_mde_falls_with_n_and_clauses_needed_inverts_it():
    assert power.wilcoxon_mde(6) > power.wilcoxon_mde(16) > power.wilcoxon_mde(60)
    n = power.clauses_needed(0.5, "wilcoxon")
    assert power.wilcoxon_mde(n) <= 0.5 < power.wilcoxon_mde(n - 1)
    assert power.clauses_needed(0.5, "wilcoxon", alpha=0.05 / 3) > n  # a Holm family needs more
    assert math.isnan(power.wilcoxon_mde(4))  # the comparison does not test below 5 pairs


def test_divergence_mde_detects_its_shift_80_percent_of_the_time():
    rng = np.random.default_rng(0)
    base = np.array([0.45, 0.25, 0.2, 0.1])
    diff = rng.normal(0, 0.04, (20, 4))
    diff -= diff.mean(axis=1, keepdims=True)  # profile differences sum to zero
    jsd = power.divergence_mde(diff, base, n_sims=300, seed=1)
    assert 0 < jsd < 0.05
    # a shift twice as large as noise needs is detected with fewer clauses
    assert power.divergence_mde(diff[:8], base, seed=1) > jsd


def test_jsd_is_scipys_divergence_and_finite_for_rows_equal_up_to_rounding():
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(6), size=200), rng.dirichlet(np.ones(6), size=200)
    assert power.jsd(p, q) == pytest.approx(jensenshannon(p, q, axis=-1, base=2) ** 2, rel=1e-9, abs=1e-15)
    assert power.jsd(3 * p, q) == pytest.approx(power.jsd(p, q))             # rows are normalized
    assert power.jsd([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)
    # Rows equal up to rounding: scipy's square root of a sum a hair below zero is NaN for about
    # half of them; the divergence is ~0, never NaN and never negative.
    near = p * (1 + 1e-9 * rng.standard_normal(p.shape))
    d = power.jsd(p, near)
    assert np.isfinite(d).all() and (d >= 0).all() and d.max() < 1e-15


def test_gain_mde_from_the_ci():
    z = st.norm.ppf(0.975)
    assert power.gain_mde(-0.01, 0.03) == pytest.approx(0.02 / z * (z + st.norm.ppf(0.8)))
    assert math.isnan(power.gain_mde(math.nan, 0.1))


@pytest.mark.parametrize("p, mde, expected", [
    (0.01, 0.9, "significant"), (0.4, 0.9, "inconclusive"), (0.4, 0.4, "no effect"),
    (None, 0.4, "not tested"), (0.4, math.nan, "inconclusive"),
])
def test_verdict(p, mde, expected):
    assert power.verdict(p, 0.05, mde, 0.5) == expected
