"""Loading the pipeline's tables, running every test of the study over them, and publishing the
result the way the compare stage writes it (``results/compare``: see :func:`save_comparison`).

Input tables (see the data contracts): the attribution LONG table (one row per clause x unit:
``clause_id, unit_index, category, norm_score, strategy, scale, n_params, family, run_id``), the
per-clause attribution table (``clause_id, entropy, gini, top_k_share, strategy, scale,
n_params, family, run_id``) and the per-clause evaluation table (``clause_id`` or ``id``,
``similarity, strategy, scale, n_params, family, run_id``; :func:`load_eval` builds it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ccattr.fidelity import ITEM_COLUMNS
from ccattr.metrics import CORPUS_METRICS
from ccattr.runtime import METRICS_FILE, PREDICTIONS_FILE
from ccattr.stats.fidelity import Fidelity, compare_fidelity
from ccattr.stats.findings import claims, sentences
from ccattr.stats.focus import PAIR_COLUMNS, Divergence, StrategyComparison, compare_strategies, divergences
from ccattr.stats.labels import METRICS, category_sort, n_params_of, scale_label, scale_order, strategy_sort
from ccattr.stats.methods import (
    AGREEMENT_COLUMNS,
    VERDICT_COLUMNS,
    MethodCheck,
    MethodComparison,
    check_summary,
    compare_methods,
)
from ccattr.stats.plateau import Plateau, plateau
from ccattr.stats.results import bootstrap_ci
from ccattr.stats.scale import ScaleTrend, category_shares, scale_trends, trend_table
from ccattr.tables import CHECK_SUFFIXES, table_files, with_runs

RUN_COLUMNS = ["strategy", "scale", "family", "n_params", "run_id"]
DIVERGENCE_COLUMNS = ["scale", "n_params", "a", "b", "n", "mean_jsd", "ci_low", "ci_high",
                      "category_jsd", "p", "p_holm", "n_permutations", "mde", "medium", "verdict", "note"]
EXAMPLE_COLUMNS = ["scale", "clause_id", "why", "mean_jsd"]
RECORD_TABLES = ("similarity", "strategy_tests", "pairwise", "divergence", "trends", "plateau_gains",
                 "plateau", "fidelity")
"""The tables ``summary.json`` also carries as JSON records."""


# --------------------------------------------------------------------------- loading


def load_attributions(attributions_dir: str | Path,
                      runs: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(long_df, clause_df)`` from ``results/attributions/<name>.parquet`` and
    ``<name>.clauses.parquet`` (all models concatenated; empty frames if none), with each model's
    family, parameter count and run joined from ``runs`` (:func:`runs_table`) when given."""
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
    if runs is not None:
        long_df, clause_df = with_runs(long_df, runs), with_runs(clause_df, runs)
    return long_df, clause_df


def load_fidelity(attributions_dir: str | Path, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The attribute stage's fidelity items (``<name>.fidelity.parquet``: one row per number or
    identifier of a generated rule), all models, joined to ``runs`` when given."""
    files = table_files(Path(attributions_dir), "fidelity")
    items = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True) if files else \
        pd.DataFrame(columns=[*ITEM_COLUMNS, "strategy", "scale"])
    items["clause_id"] = items["clause_id"].astype(str)
    return with_runs(items, runs) if runs is not None else items


def load_method_check(check_dir: str | Path, runs: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(units, clauses)``: the check_methods stage's tables (``<name>.parquet``,
    ``<name>.clauses.parquet`` in ``results/method_check``; one row per unit or clause and
    ``method``), all models, joined to ``runs`` when given; empty frames when there are none."""
    frames = {}
    for kind in CHECK_SUFFIXES:
        parts = [pd.read_parquet(p) for p in table_files(Path(check_dir), kind)]
        df = pd.concat(parts, ignore_index=True) if parts else \
            pd.DataFrame(columns=["clause_id", "method", "strategy", "scale"])
        df["clause_id"] = df["clause_id"].astype(str)
        frames[kind] = with_runs(df, runs) if runs is not None else df
    return frames["units"], frames["clauses"]


def load_eval(eval_dir: str | Path) -> pd.DataFrame:
    """Per-clause evaluation table from ``results/eval/<name>/{predictions.jsonl,metrics.json}``:
    the prediction rows plus ``strategy, scale, n_params, family, run_id`` from metrics.json and
    ``clause_id`` (= ``id``)."""
    frames = []
    for metrics_path in sorted(Path(eval_dir).glob(f"*/{METRICS_FILE}")):
        meta = json.loads(metrics_path.read_text(encoding="utf-8"))
        pred = metrics_path.parent / PREDICTIONS_FILE
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


# --------------------------------------------------------------------------- tables


def runs_table(*frames: pd.DataFrame) -> pd.DataFrame:
    """One row per model (strategy x scale): its family, parameter count and MLflow run; the
    first frame that knows a value gives it (the evaluation table first)."""
    parts = [df.reindex(columns=RUN_COLUMNS) for df in frames
             if len(df) and {"strategy", "scale"} <= set(df.columns)]
    if not parts:
        return pd.DataFrame(columns=RUN_COLUMNS)
    runs = (pd.concat(parts, ignore_index=True).dropna(subset=["strategy", "scale"])
            .groupby(["strategy", "scale"], sort=False).first().reset_index())
    runs["n_params"] = pd.to_numeric(runs["n_params"]).astype("Int64")
    order = {s: i for i, s in enumerate(strategy_sort(runs["strategy"]))}
    key = runs.assign(_s=runs["strategy"].map(order), _n=runs["n_params"].astype(float))
    return runs.loc[key.sort_values(["_s", "_n", "scale"]).index, RUN_COLUMNS].reset_index(drop=True)


def _similarity_table(eval_df: pd.DataFrame, n_bootstrap: int, seed: int,
                      confidence: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    extra = [c for c in ("exact_match", "edit_distance", "parses", "lrml_f", "bleu", *CORPUS_METRICS)
             if c in eval_df.columns and eval_df[c].notna().any()]
    for strategy in strategy_sort(eval_df["strategy"].dropna().unique()):
        g = eval_df[eval_df["strategy"] == strategy]
        for scale in scale_order(g):
            h = g[g["scale"] == scale]
            x = pd.to_numeric(h["similarity"], errors="coerce").dropna().to_numpy(dtype=float)
            lo, hi = bootstrap_ci((x,), np.mean, rng, n_bootstrap, confidence)
            row = {"strategy": strategy, "scale": scale, "n_params": n_params_of(h, scale),
                   "n": int(x.size), "similarity": float(x.mean()) if x.size else math.nan,
                   "ci_low": lo, "ci_high": hi,
                   "median": float(np.median(x)) if x.size else math.nan}
            for c in extra:
                row[c] = float(pd.to_numeric(h[c], errors="coerce").mean())
            rows.append(row)
    cols = ["strategy", "scale", "n_params", "n", "similarity", "ci_low", "ci_high", "median", *extra]
    return pd.DataFrame(rows, columns=cols)


def _focus_table(clause_df: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    rows = []
    for strategy in strategy_sort(clause_df["strategy"].dropna().unique()):
        g = clause_df[clause_df["strategy"] == strategy]
        for scale in scale_order(g):
            h = g[g["scale"] == scale]
            row = {"strategy": strategy, "scale": scale, "n_params": n_params_of(h, scale), "n": len(h)}
            for m in metrics:
                v = pd.to_numeric(h[m], errors="coerce").dropna()
                row[f"{m}_median"] = float(v.median()) if len(v) else math.nan
                row[f"{m}_q1"] = float(v.quantile(0.25)) if len(v) else math.nan
                row[f"{m}_q3"] = float(v.quantile(0.75)) if len(v) else math.nan
            rows.append(row)
    return pd.DataFrame(rows)


def _divergence_clauses(divs: Sequence[Divergence]) -> pd.DataFrame:
    parts = [d.per_clause.assign(scale=d.scale, a=d.strategy_a, b=d.strategy_b) for d in divs]
    cols = ["scale", "a", "b", "clause_id", "jsd"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def heatmap_examples(divs: Sequence[Divergence], scales: Sequence[str]) -> pd.DataFrame:
    """Clauses to show as word heat maps, at the largest scale attributed under >= 2 strategies:
    where the strategies disagree most, a typical (median) clause and where they agree most (the
    mean over strategy pairs of the per-clause JSD), so the examples are not all cherry-picked."""
    for scale in reversed(list(scales)):
        per = [d.per_clause.set_index("clause_id")["jsd"] for d in divs if d.scale == scale]
        jsd = pd.concat(per, axis=1).mean(axis=1).dropna().sort_values(ascending=False) \
            if per else pd.Series(dtype=float)
        if jsd.empty:
            continue
        picks = [(jsd.index[0], "the strategies disagree most")]
        if len(jsd) >= 3:
            picks.append((jsd.index[len(jsd) // 2], "a typical clause (median disagreement)"))
        if len(jsd) >= 2:
            picks.append((jsd.index[-1], "the strategies agree most"))
        return pd.DataFrame([{"scale": scale, "clause_id": c, "why": why, "mean_jsd": float(jsd[c])}
                             for c, why in picks], columns=EXAMPLE_COLUMNS)
    return pd.DataFrame(columns=EXAMPLE_COLUMNS)


# --------------------------------------------------------------------------- the comparison


@dataclass(frozen=True, eq=False)
class Comparison:
    """Every typed result of :func:`run_comparison`: the claims and sentences are read from here."""

    alpha: float
    plateau_gain: float
    quality_metric: str
    top_k_fraction: float | None
    strategies: tuple[str, ...]
    scales: tuple[dict[str, Any], ...]
    """``{scale, n_params, label}``, ascending by parameter count."""
    strategy_tests: tuple[StrategyComparison, ...]
    divergences: tuple[Divergence, ...]
    trends: tuple[ScaleTrend, ...]
    plateau: Plateau | None
    fidelity: Fidelity | None = None
    methods: MethodComparison | None = None
    """The cheaper estimators against exact leave-one-out (None: no check given)."""

    @property
    def labels(self) -> dict[str, str]:
        return {s["scale"]: s["label"] for s in self.scales}


def _scale_list(*frames: pd.DataFrame) -> tuple[dict[str, Any], ...]:
    """Scale labels from every table that knows the parameter counts."""
    sizes: dict[str, int] = {}
    for df in frames:
        if len(df) and "n_params" in df.columns:
            for s, v in df.groupby("scale")["n_params"].first().items():
                if pd.notna(v):
                    sizes.setdefault(str(s), int(v))
    return tuple({"scale": s, "n_params": v, "label": scale_label(s, v)}
                 for s, v in sorted(sizes.items(), key=lambda kv: (kv[1], kv[0])))


def run_comparison(long_df: pd.DataFrame, clause_df: pd.DataFrame, eval_df: pd.DataFrame,
                   params: Any = None, top_k_fraction: float | None = None, *,
                   metrics: Sequence[str] = METRICS,
                   categories: Sequence[str] | None = None,
                   fidelity_df: pd.DataFrame | None = None,
                   method_check: MethodCheck | None = None) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Every test of the study over the pipeline's tables.

    ``params`` is :class:`ccattr.config.StatisticsParams` (``alpha, n_bootstrap,
    n_permutations, plateau_gain, quality_metric, seed``; defaults when None). ``top_k_fraction``
    (the attribution params' value) only labels the top-k metric ("top-20% share").

    Families corrected with Holm: pairwise strategy tests (within scale x metric, inside
    :func:`~ccattr.stats.focus.compare_strategies`), divergence tests (within scale), trend tests
    (two-sided Page p; two families: the claim-2 rows - numbers and rule identifiers, every
    strategy - and the exploratory rest). Beside every test: its power (``mde``) and ``verdict``.

    Returns ``(tables, summary)``: tables ``similarity``, ``focus``, ``strategy_tests``,
    ``pairwise``, ``divergence``, ``category_shares``, ``trends``, ``plateau_by_scale``,
    ``plateau_gains``, ``plateau``, ``runs`` (one row per model), ``divergence_clauses`` (the
    per-clause JSD of every pair), ``examples`` (the heat-map clauses), the fidelity tables and
    ``method_agreement`` / ``method_verdicts`` (:mod:`~ccattr.stats.methods`, from
    ``method_check``: the check_methods stage's tables; empty without); summary: JSON-able
    dict (NaN as null) with the settings, the scales, records of the main tables, ``claims``,
    ``method_check`` (the estimators' pooled agreement, cost and verdicts changed) and
    ``findings`` (the plain sentences).
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
                              "ci_high", "median"])
    tables["focus"] = _focus_table(clause_df, metrics) if len(clause_df) else pd.DataFrame()

    tests = [compare_strategies(clause_df, m, scale, alpha, n_bootstrap=nb, seed=seed)
             for scale in (scale_order(clause_df) if len(clause_df) else []) for m in metrics]
    tables["strategy_tests"] = pd.DataFrame([t.row() for t in tests])
    tables["pairwise"] = pd.concat([t.pairwise for t in tests], ignore_index=True) if tests else \
        pd.DataFrame(columns=PAIR_COLUMNS)

    long_scales = scale_order(long_df) if len(long_df) else []
    divs = [d for scale in long_scales for d in divergences(
        long_df, scale, alpha, n_permutations=nperm, n_bootstrap=nb, seed=seed)]
    tables["divergence"] = pd.DataFrame([d.row() for d in divs], columns=DIVERGENCE_COLUMNS)

    trends: list[ScaleTrend] = []
    if len(long_df):
        shares = category_shares(long_df, n_bootstrap=nb, seed=seed, confidence=conf)
        cats = list(categories) if categories is not None else category_sort(
            shares.per_clause["category"].unique())
        trends = scale_trends(long_df, shares, cats, alpha, n_bootstrap=nb, seed=seed)
        tables["category_shares"], tables["trends"] = shares.means, trend_table(trends)
    else:
        tables["category_shares"], tables["trends"] = pd.DataFrame(), pd.DataFrame()

    pl = None
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

    # number / identifier fidelity: rates, strategy tests and trends on the per-clause rates
    fid = compare_fidelity(fidelity_df if fidelity_df is not None else pd.DataFrame(), clause_df, alpha,
                   n_bootstrap=nb, seed=seed)
    tables["fidelity"] = fid.rates
    tables["fidelity_tests"] = pd.DataFrame([t.row() for t in fid.strategy_tests])
    tables["fidelity_pairwise"] = pd.concat([t.pairwise for t in fid.strategy_tests], ignore_index=True) \
        if fid.strategy_tests else pd.DataFrame(columns=PAIR_COLUMNS)
    tables["fidelity_trends"] = trend_table(fid.trends)

    # cheaper estimators vs exact: agreement, cost, and the study's verdicts on the check's clauses
    methods = compare_methods(method_check, eval_df, params, top_k_fraction) if method_check is not None else None
    tables["method_agreement"] = methods.agreement if methods else pd.DataFrame(columns=AGREEMENT_COLUMNS)
    tables["method_verdicts"] = methods.verdicts if methods else pd.DataFrame(columns=VERDICT_COLUMNS)

    tables["runs"] = runs_table(eval_df, clause_df, long_df)
    tables["divergence_clauses"] = _divergence_clauses(divs)
    tables["examples"] = heatmap_examples(divs, long_scales)

    strategies = strategy_sort(set().union(*(df["strategy"].dropna() for df in (eval_df, clause_df, long_df)
                                             if "strategy" in df.columns)))
    comparison = Comparison(alpha, params.plateau_gain, params.quality_metric, top_k_fraction,
                            tuple(strategies), _scale_list(eval_df, clause_df, long_df), tuple(tests),
                            tuple(divs), tuple(trends), pl, fid, methods)
    verdicts = claims(comparison)
    summary: dict[str, Any] = {
        "alpha": alpha, "n_bootstrap": nb, "n_permutations": nperm,
        "plateau_gain": params.plateau_gain, "seed": seed,
        "quality_metric": params.quality_metric,
        "notation": _notation(eval_df),
        "top_k_fraction": top_k_fraction, "metrics": list(metrics),
        "strategies": strategies, "scales": list(comparison.scales),
        **{name: _records(tables[name]) for name in RECORD_TABLES},
        "method_check": check_summary(methods),
        "claims": verdicts, "findings": sentences(comparison, verdicts),
    }
    return tables, _nan_to_none(summary)


def _notation(eval_df: pd.DataFrame) -> str | None:
    if "notation" not in eval_df.columns or not len(eval_df):
        return None
    from ccattr import notations

    return notations.label(eval_df.drop_duplicates("clause_id")["notation"].dropna())


# --------------------------------------------------------------------------- publishing


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


def plot_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Wide tables for DVC plots, one row per scale (``x: log2_params``) and one column per
    strategy, so that ``dvc plots show`` draws one line per strategy:
    ``similarity_vs_scale`` (mean rule similarity) and ``<category>_share_vs_scale`` for the
    claim-2 categories (mean share of attribution on numbers / rule identifiers)."""
    out = {}

    def wide(df: pd.DataFrame, value: str) -> pd.DataFrame:
        w = df.pivot_table(index=["scale", "n_params"], columns="strategy", values=value, aggfunc="mean")
        w = w[strategy_sort(w.columns)].reset_index()
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
    ``tables/<name>.csv``, ``summary.json`` and ``plots/<name>.csv`` (:func:`plot_tables`).
    :func:`load_comparison` and the report read this layout."""
    from ccattr.io import atomic_write_text, write_json

    out = Path(out_dir)
    for name, df in tables.items():
        atomic_write_text(out / "tables" / f"{name}.csv", df.to_csv(index=False))
    write_json(out / "summary.json", _nan_to_none(summary))
    for name, df in plot_tables(tables).items():
        atomic_write_text(out / "plots" / f"{name}.csv", df.to_csv(index=False))


#: Columns of the published tables read back as text: names and keys (a scale called ``1.5``
#: stays ``"1.5"``), lists in a cell, labels.
TEXT_COLUMNS = ("strategy", "scale", "a", "b", "strategies", "clause_id", "run_id", "family",
                "model_family", "category", "metric", "scales", "mean_share", "plateau_scale",
                "from_scale", "to_scale", "last_from", "last_to", "why", "note", "pattern",
                "verdict", "test", "effect_name", "kind", "method", "exact", "claim")


def read_table(path: str | Path) -> pd.DataFrame:
    """One table as :func:`save_comparison` wrote it (an empty table is a blank file)."""
    try:
        return pd.read_csv(path, dtype={c: str for c in TEXT_COLUMNS})
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def load_comparison(compare_dir: str | Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Read what :func:`save_comparison` wrote (tables from ``tables/``, or from the folder
    itself); ``({}, {})`` when there is no ``summary.json``."""
    from ccattr.io import read_json

    root = Path(compare_dir)
    if not (root / "summary.json").exists():
        return {}, {}
    folder = root / "tables" if (root / "tables").is_dir() else root
    tables = {p.stem: read_table(p) for p in sorted(folder.glob("*.csv"))}
    return tables, read_json(root / "summary.json")


__all__ = ["TEXT_COLUMNS", "Comparison", "heatmap_examples", "load_attributions", "load_comparison",
           "load_eval", "load_fidelity", "load_method_check", "plot_tables", "read_table", "run_comparison",
           "runs_table", "save_comparison"]
