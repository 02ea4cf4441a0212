"""Claim 3, plateau: rule-quality gains (similarity by default, ``statistics.quality_metric``)
flatten beyond some scale (:func:`plateau`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ccattr import power
from ccattr.stats.labels import scale_order, strategy_sort
from ccattr.stats.results import NAN, TestResult, bootstrap_ci


@dataclass(frozen=True)
class PlateauStep:
    """The gain per doubling of parameters between two consecutive scales of a strategy: a
    CI-based check (``result.pvalue`` is NaN), effect = gain per doubling with its bootstrap CI."""

    strategy: str
    from_scale: str
    to_scale: str
    from_n_params: int
    to_n_params: int
    doublings: float
    gain: float
    result: TestResult
    paired: bool
    gain_threshold: float
    mde: float = NAN
    """Smallest gain per doubling the CI tells from zero with 80% power (:func:`ccattr.power.gain_mde`)."""

    @property
    def below_threshold(self) -> bool:
        return bool(self.result.effect < self.gain_threshold)

    @property
    def ci_covers_zero(self) -> bool:
        return bool(self.result.ci_low <= 0 <= self.result.ci_high)

    def row(self) -> dict[str, Any]:
        r = self.result
        return {"strategy": self.strategy, "from_scale": self.from_scale, "to_scale": self.to_scale,
                "from_n_params": self.from_n_params, "to_n_params": self.to_n_params,
                "doublings": self.doublings, "gain": self.gain, "gain_per_doubling": r.effect,
                "ci_low": r.ci_low, "ci_high": r.ci_high, "below_threshold": self.below_threshold,
                "ci_covers_zero": self.ci_covers_zero, "paired": self.paired, "mde": self.mde}


@dataclass(frozen=True)
class StrategyPlateau:
    """The verdict for one strategy. ``plateau_scale`` is None for "no plateau"; ``pattern`` is
    ``plateau`` (gains, then flat), ``flat`` (no detectable gain from the smallest scale on),
    ``no plateau`` or ``single scale``; ``confirmed``: every later CI lies below the threshold."""

    strategy: str
    n_scales: int
    plateau_scale: str | None
    plateau_n_params: int | None
    pattern: str
    confirmed: bool
    gain_threshold: float
    steps: tuple[PlateauStep, ...]
    note: str = ""

    @property
    def last(self) -> PlateauStep | None:
        return self.steps[-1] if self.steps else None

    def row(self) -> dict[str, Any]:
        last = self.last
        return {"strategy": self.strategy, "n_scales": self.n_scales,
                "plateau_scale": self.plateau_scale, "plateau_n_params": self.plateau_n_params,
                "pattern": self.pattern, "confirmed": self.confirmed,
                "gain_threshold": self.gain_threshold,
                "last_from": last.from_scale if last else None,
                "last_to": last.to_scale if last else None,
                "last_gain": last.result.effect if last else NAN,
                "last_ci_low": last.result.ci_low if last else NAN,
                "last_ci_high": last.result.ci_high if last else NAN, "note": self.note}


BY_SCALE_COLUMNS = ["strategy", "scale", "n_params", "n", "mean", "ci_low", "ci_high"]
GAIN_COLUMNS = ["strategy", "from_scale", "to_scale", "from_n_params", "to_n_params", "doublings",
                "gain", "gain_per_doubling", "ci_low", "ci_high", "below_threshold",
                "ci_covers_zero", "paired", "mde"]
SUMMARY_COLUMNS = ["strategy", "n_scales", "plateau_scale", "plateau_n_params", "pattern",
                   "confirmed", "gain_threshold", "last_from", "last_to", "last_gain",
                   "last_ci_low", "last_ci_high", "note"]


@dataclass(frozen=True, eq=False)
class Plateau:
    """Result of :func:`plateau`."""

    by_scale: pd.DataFrame
    """strategy, scale, n_params, n, mean, ci_low, ci_high: mean quality per scale."""
    strategies: tuple[StrategyPlateau, ...]

    @property
    def gains(self) -> pd.DataFrame:
        return pd.DataFrame([s.row() for p in self.strategies for s in p.steps], columns=GAIN_COLUMNS)

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([p.row() for p in self.strategies], columns=SUMMARY_COLUMNS)


def _strategy_plateau(strategy: str, g: pd.DataFrame, ccol: str, metric: str, n_bootstrap: int,
                      gain_threshold: float, rng: np.random.Generator,
                      confidence: float) -> tuple[StrategyPlateau, list[dict[str, Any]]]:
    """The strategy's verdict and its rows of the by-scale table."""
    scales = scale_order(g)
    sizes = g.groupby("scale")["n_params"].first()
    samples = {s: g[g["scale"] == s].groupby(ccol)[metric].mean() for s in scales}
    common = set.intersection(*(set(v.index) for v in samples.values())) if scales else set()
    paired = all(len(v) == len(common) for v in samples.values()) and len(common) > 0
    data = [samples[s].reindex(sorted(common)) if paired else samples[s] for s in scales]
    doublings = np.array([math.log2(float(sizes[b])) - math.log2(float(sizes[a]))
                          for a, b in zip(scales, scales[1:], strict=False)])

    def means_and_gains(*x: np.ndarray, axis: int = -1) -> np.ndarray:
        means = np.stack([np.mean(v, axis=axis) for v in x])
        with np.errstate(invalid="ignore", divide="ignore"):
            gains = (means[1:] - means[:-1]) / np.where(doublings > 0, doublings, np.nan).reshape(
                -1, *[1] * (means.ndim - 1))
        return np.concatenate([means, gains])

    # one bootstrap for every scale and step: resampled jointly when the clauses are the same
    # (paired), else independently per scale
    lo, hi = bootstrap_ci([v.to_numpy(dtype=float) for v in data], means_and_gains, rng,
                          n_bootstrap, confidence, paired=paired)
    lo, hi, k = np.atleast_1d(lo), np.atleast_1d(hi), len(scales)
    by_scale = [{"strategy": strategy, "scale": s, "n_params": int(sizes[s]), "n": len(samples[s]),
                 "mean": float(samples[s].mean()), "ci_low": float(lo[i]), "ci_high": float(hi[i])}
                for i, s in enumerate(scales)]
    steps = []
    for i, (a, b) in enumerate(zip(scales, scales[1:], strict=False)):
        gain = float(samples[b].mean() - samples[a].mean())
        ok = doublings[i] > 0
        gpd, clo, chi = (gain / doublings[i], float(lo[k + i]), float(hi[k + i])) if ok else (NAN, NAN, NAN)
        steps.append(PlateauStep(
            strategy, a, b, int(sizes[a]), int(sizes[b]), float(doublings[i]), gain,
            TestResult("bootstrap", gpd, n=min(len(samples[a]), len(samples[b])), effect=gpd,
                       effect_name="gain per doubling", ci_low=clo, ci_high=chi),
            paired, gain_threshold, power.gain_mde(clo, chi, 1 - confidence)))
    at = next((i for i in range(len(steps))
               if all(s.below_threshold and s.ci_covers_zero for s in steps[i:])), None)
    notes = []
    if len(scales) < 2:
        notes.append("needs >= 2 scales")
    elif at is not None and at == len(scales) - 2:
        notes.append("plateau rests on the last step only")
    if not paired and len(scales) >= 2:
        notes.append("clauses differ between scales: unpaired bootstrap")
    pattern = ("single scale" if len(scales) < 2 else "no plateau" if at is None else
               "flat" if at == 0 else "plateau")
    return StrategyPlateau(
        strategy, len(scales), scales[at] if at is not None else None,
        int(sizes[scales[at]]) if at is not None else None, pattern,
        bool(at is not None and all(s.result.ci_high < gain_threshold for s in steps[at:])),
        gain_threshold, tuple(steps), "; ".join(notes)), by_scale


def plateau(similarity_df: pd.DataFrame, n_bootstrap: int = 1000, gain_threshold: float = 0.01,
            seed: int = 0, *, confidence: float = 0.95, metric: str = "similarity") -> Plateau:
    """Do rule-quality gains flatten beyond some scale? One verdict per strategy.

    ``metric`` is the per-clause quality column (``statistics.quality_metric``: similarity by
    default, or ``lrml_f``, ``bleu``, ``exact_match``, ``edit_similarity``; all in [0, 1]).

    For each strategy, scales are ordered by parameter count; the mean quality per scale
    gets a bootstrap CI over clauses. Between consecutive scales, the *gain per doubling* is
    ``(mean_{i+1} - mean_i) / (log2 n_{i+1} - log2 n_i)``, with a bootstrap CI (clauses resampled
    jointly across scales when every scale has the same clauses - the paired design - else
    independently per scale).

    Criterion: the plateau scale is the first scale ``s_i`` such that *every* later step
    (``s_i -> s_{i+1}``, ``s_{i+1} -> s_{i+2}``, ...) has a gain per doubling below
    ``gain_threshold`` *and* a CI covering zero; if there is none, "no plateau". The
    criterion reads "no detectable gain" - a small, noisy sample can pass it for lack of power -
    so ``confirmed`` additionally says whether every later step's CI *upper bound* is below the
    threshold (gains of ``gain_threshold`` per doubling ruled out: an equivalence-style check).
    Needs >= 2 scales; a single later step is weak evidence (see ``note``).
    """
    rng = np.random.default_rng(seed)
    ccol = "clause_id" if "clause_id" in similarity_df.columns else "id"
    df = similarity_df.assign(**{metric: pd.to_numeric(similarity_df[metric], errors="coerce")}) \
        .dropna(subset=[metric])
    out = [_strategy_plateau(s, df[df["strategy"] == s], ccol, metric, n_bootstrap, gain_threshold,
                             rng, confidence) for s in strategy_sort(df["strategy"].unique())]
    return Plateau(by_scale=pd.DataFrame([r for _, rows in out for r in rows], columns=BY_SCALE_COLUMNS),
                   strategies=tuple(v for v, _ in out))


__all__ = ["Plateau", "PlateauStep", "StrategyPlateau", "plateau"]
