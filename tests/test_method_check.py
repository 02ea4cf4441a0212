"""ccattr.method_check: the per-clause agreement of an estimator with exact leave-one-out, and the
check itself on a tiny random-weight model (real SmolLM2 tokenizer, real Captum KernelSHAP)."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, make_tiny_model

from ccattr.attribution import Attributor, PromptTemplate
from ccattr.method_check import (
    CHECK_CLAUSE_COLUMNS,
    UNIT_COLUMNS,
    agreement,
    check_clauses,
    check_frames,
    run_metrics,
)


def test_agreement_of_a_planted_and_a_reversed_ranking():
    exact = np.array([0.9, -0.5, 0.3, 0.1, 0.05, 0.02, 0.01, 0.0, -0.001, 0.2])
    same = agreement(exact, 3 * exact + 0.01, 0.2)          # a monotone transform: the same ranking
    assert same.spearman == pytest.approx(1.0) and same.top_k_overlap == 1.0 and same.top1_same is True
    back = agreement([5, 4, 3, 2, 1], [1, 2, 3, 4, 5], 0.4)  # k = 2: {0, 1} vs {4, 3}
    assert back.spearman == pytest.approx(-1.0) and back.top_k_overlap == 0.0 and back.top1_same is False


def test_agreement_ranks_top_k_by_magnitude_like_the_attribute_stage():
    # the largest |score| is a negative one: first for top-k and top-1, last for Spearman
    exact, other = [-3.0, 2.0, 1.0, 0.5, 0.2], [3.0, 2.0, 1.0, 0.5, 0.2]
    a = agreement(exact, other, 0.4)
    assert a.top_k_overlap == 1.0 and a.top1_same is True and a.spearman == pytest.approx(0.0)
    half = agreement([4, 3, 2, 1], [4, 1, 2, 3], 0.5)      # k = 2: {0, 1} vs {0, 3}
    assert half.top_k_overlap == 0.5 and half.top1_same is True


def test_agreement_with_ties_constants_and_tiny_clauses():
    flat = agreement([1.0, 1.0, 1.0], [3.0, 2.0, 1.0])      # exact singles out no word
    assert math.isnan(flat.spearman) and math.isnan(flat.top_k_overlap) and flat.top1_same is None
    zero = agreement([0.2, 0.1, 0.3], [0.0, 0.0, 0.0])      # the estimator gave nothing
    assert math.isnan(zero.spearman) and zero.top1_same is None
    one = agreement([0.4], [0.1])                            # one word: no correlation, trivially the same top
    assert math.isnan(one.spearman) and (one.top_k_overlap, one.top1_same) == (1.0, True)
    tied = agreement([2.0, 2.0, 1.0, 0.0], [2.0, 1.0, 2.0, 0.0], 0.25)   # ties broken by unit order
    assert tied.top1_same is True and tied.spearman == pytest.approx(0.5)
    empty = agreement([], [])
    assert math.isnan(empty.spearman) and empty.top1_same is None
    with pytest.raises(ValueError, match="one score per unit"):
        agreement([1.0, 2.0], [1.0, 2.0, 3.0])


@pytest.fixture(scope="module")
def attributors(tokenizer):
    model = make_tiny_model(tokenizer, seed=3)
    template = PromptTemplate(tokenizer)
    return {m: Attributor(model, tokenizer, template, method=m, n_samples=8, faithfulness=False, batch_size=8)
            for m in ("exact", "kernel_shap")}


@pytest.fixture
def rows(records):
    return [{"id": r["id"], "clause": r["clause"], "prediction": r["rule"][:60], "reference": r["rule"]}
            for r in records[:2]]


def test_check_clauses_times_each_method_and_measures_it_against_exact(attributors, rows):
    ticks = itertools.count()                                # each call spans exactly one tick
    units, clauses = check_clauses(attributors, rows, 0.2, clock=lambda: float(next(ticks)))
    assert list(units.columns) == list(UNIT_COLUMNS) and list(clauses.columns) == list(CHECK_CLAUSE_COLUMNS)
    assert clauses[["clause_id", "method"]].values.tolist() == [
        [r["id"], m] for r in rows for m in ("exact", "kernel_shap")]
    assert (clauses["seconds"] == 1.0).all()
    assert clauses["n_samples"].isna().tolist() == [True, False] * 2 and (clauses["n_samples"].dropna() == 8).all()
    assert clauses["comprehensiveness"].isna().all()         # faithfulness off: the time is the method's own
    for r in rows:
        for method, att in attributors.items():
            got = units[(units["clause_id"] == r["id"]) & (units["method"] == method)]
            # the same scores as the attributor gives alone (Captum's draws seeded per clause)
            alone = att.attribute(r["clause"], r["prediction"], r["reference"])
            assert np.allclose(got["raw_score"], alone.raw_scores) and len(got) == alone.n_units
        ex = units[(units["clause_id"] == r["id"]) & (units["method"] == "exact")]["raw_score"].to_numpy()
        ks = units[(units["clause_id"] == r["id"]) & (units["method"] == "kernel_shap")]["raw_score"].to_numpy()
        row = clauses[(clauses["clause_id"] == r["id"]) & (clauses["method"] == "kernel_shap")].iloc[0]
        want = agreement(ex, ks, 0.2)
        assert row["spearman"] == pytest.approx(want.spearman, nan_ok=True)
        assert row["top_k_overlap"] == pytest.approx(want.top_k_overlap, nan_ok=True)
        assert row["top1_same"] == want.top1_same
        itself = clauses[(clauses["clause_id"] == r["id"]) & (clauses["method"] == "exact")].iloc[0]
        assert itself["spearman"] == pytest.approx(1.0) and itself["top1_same"]
    metrics = run_metrics(clauses)
    assert {"check_exact_s_per_clause", "check_kernel_shap_s_per_clause", "check_kernel_shap_spearman",
            "check_kernel_shap_top_k_overlap", "check_kernel_shap_top1_same"} <= set(metrics)
    assert metrics["check_kernel_shap_spearman"] == pytest.approx(clauses.loc[1::2, "spearman"].mean())
    assert not any(k.startswith("check_exact_spearman") for k in metrics)


def test_check_needs_exact_and_an_empty_check_has_the_columns(attributors, rows):
    with pytest.raises(ValueError, match="'exact'"):
        check_clauses({"kernel_shap": attributors["kernel_shap"]}, rows, 0.2)
    units, clauses = check_frames([], [])
    assert list(units.columns) == list(UNIT_COLUMNS) and units.empty
    assert list(clauses.columns) == list(CHECK_CLAUSE_COLUMNS) and clauses.empty
    assert run_metrics(clauses) == {}
    assert str(clauses["top1_same"].dtype) == "boolean"


def test_run_metrics_leaves_out_undefined_means():
    clauses = pd.DataFrame({"method": ["exact", "lime", "exact", "lime"], "seconds": [1.0, 3.0, 2.0, 5.0],
                            "spearman": [1.0, math.nan, 1.0, math.nan], "top_k_overlap": [1.0, 0.5, 1.0, 0.0],
                            "top1_same": pd.array([True, pd.NA, True, False], dtype="boolean")})
    assert run_metrics(clauses) == {"check_exact_s_per_clause": 1.5, "check_lime_s_per_clause": 4.0,
                                    "check_lime_top_k_overlap": 0.25, "check_lime_top1_same": 0.0}


def test_the_stage_with_no_method_writes_empty_tables_without_a_model(tmp_path):
    """methods: [] - no model, predictions or tracking store needed: two empty tables with their columns."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["method_check"]["methods"] = []
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / "check_methods.py"), "fft", "smollm2-l6"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no method to check" in proc.stdout
    units = pd.read_parquet(tmp_path / "results/method_check/fft-smollm2-l6.parquet")
    clauses = pd.read_parquet(tmp_path / "results/method_check/fft-smollm2-l6.clauses.parquet")
    assert units.empty and list(units.columns) == [*UNIT_COLUMNS, "strategy", "scale"]
    assert clauses.empty and list(clauses.columns) == [*CHECK_CLAUSE_COLUMNS, "strategy", "scale"]
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "models").exists()
