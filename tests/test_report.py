"""ccattr.report: a report built from small synthetic pipeline outputs (3 strategies x 3 scales x
10 clauses), written in the contract layouts (attribution parquet, eval jsonl + metrics.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ccattr import stats
from ccattr.config import StatisticsParams
from ccattr.report import RunLinker, build_report

STRATEGIES = ("fft", "lora", "qlora")
SCALES = (("smollm2-l8", 63_000_000), ("smollm2-l16", 135_000_000), ("smollm2", 360_000_000))
WORDS = [("Guards", "entity"), ("shall", "deontic"), ("be", "function"), ("not", "negation"),
         ("less", "comparator"), ("than", "function"), ("1070", "number"), ("mm", "unit"),
         ("high", "entity"), ("per", "function"), ("9.8.8.3", "rule_id"), (".", "punct")]


def run_id(strategy: str, k: int) -> str:
    return f"{strategy}{k}".ljust(32, "0")


def write_outputs(root: Path, effect: bool, seed: int = 0, n: int = 10) -> dict[str, Path]:
    """Attribution long + clause tables and eval outputs for every (strategy, scale)."""
    rng = np.random.default_rng(seed)
    attr, ev = root / "results" / "attributions", root / "results" / "eval"
    attr.mkdir(parents=True)
    cats = np.array([c for _, c in WORDS])
    base = rng.gamma(2.0, 1.0, size=(n, len(WORDS)))
    for s in STRATEGIES:
        for k, (scale, size) in enumerate(SCALES):
            name, rid = f"{s}-{scale}", run_id(s, k)
            w = base * rng.gamma(8.0, 1 / 8.0, size=base.shape)
            if effect:
                w = w * np.where(np.isin(cats, ["number", "rule_id"]), 1 + 1.5 * k, 1.0)
                w = w ** (2.5 if s == "fft" else 1.0)
            p = w / w.sum(axis=1, keepdims=True)
            ent = -(p * np.log(p)).sum(axis=1) / np.log(len(WORDS))
            starts = np.cumsum([0] + [len(t) + 1 for t, _ in WORDS[:-1]])
            long_df = pd.DataFrame({
                "clause_id": np.repeat([f"9.8.{c}" for c in range(n)], len(WORDS)),
                "unit_index": np.tile(np.arange(len(WORDS)), n),
                "text": np.tile([t for t, _ in WORDS], n), "category": np.tile(cats, n),
                "start": np.tile(starts, n), "end": np.tile(starts + [len(t) for t, _ in WORDS], n),
                "raw_score": w.ravel(), "norm_score": p.ravel(), "strategy": s, "scale": scale,
                "n_params": size, "run_id": rid})
            long_df.to_parquet(attr / f"{name}.parquet")
            clause_df = pd.DataFrame({
                "clause_id": [f"9.8.{c}" for c in range(n)], "n_units": len(WORDS),
                "entropy": ent, "gini": 1 - ent, "top_k_share": np.sort(p, axis=1)[:, -2:].sum(1),
                "strategy": s, "scale": scale, "n_params": size, "run_id": rid})
            clause_df.to_parquet(attr / f"{name}.clauses.parquet")
            sim = np.clip((0.55 + 0.2 * min(k, 1) if effect else 0.6)
                          + rng.normal(0, 0.04, n), 0, 1)
            d = ev / name
            d.mkdir(parents=True)
            with open(d / "predictions.jsonl", "w", encoding="utf-8") as fh:
                for c in range(n):
                    fh.write(json.dumps({
                        "id": f"9.8.{c}", "clause": " ".join(t for t, _ in WORDS),
                        "reference": "height(guard) >= 1070 mm", "prediction":
                        f"height(guard) >= {1000 + 10 * k} mm", "similarity": float(sim[c]),
                        "exact_match": 0, "edit_distance": 0.2, "parses": True}) + "\n")
            (d / "metrics.json").write_text(json.dumps({
                "strategy": s, "scale": scale, "n_params": size, "run_id": rid, "n": n,
                "similarity": float(sim.mean()), "exact_match": 0.0, "edit_distance": 0.2,
                "parse_rate": 1.0}))
    return {"attributions": attr, "eval": ev, "compare": root / "results" / "compare"}


VALIDATION = {"n_records": 120, "splits": {"train": 100, "test": 20},
              "expectations": [{"name": "no_empty_rules", "success": True},
                               {"name": "split_by_document", "success": True},
                               {"name": "max_clause_chars", "success": False}]}


@pytest.fixture(scope="module")
def effect_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("effect")
    dirs = write_outputs(root, effect=True)
    long_df, clause_df = stats.load_attributions(dirs["attributions"])
    eval_df = stats.load_eval(dirs["eval"])
    params = StatisticsParams(n_bootstrap=200, n_permutations=200)
    tables, summary = stats.run_comparison(long_df, clause_df, eval_df, params, 0.2)
    stats.save_comparison(dirs["compare"], tables, summary)
    links = {run_id("fft", 0): "7"}
    path = build_report(dirs["compare"], dirs["attributions"], dirs["eval"], root / "reports",
                        validation_summary=VALIDATION, run_links=links,
                        tracking_ui_url="http://mlflow.example:5000/")
    return path, summary


def test_report_contents(effect_report):
    path, summary = effect_report
    assert path.name == "index.html" and path.exists()
    page = path.read_text(encoding="utf-8")
    import html

    for sentence in stats.findings(summary):
        assert html.escape(sentence) in page
    assert "FFT attributions are more concentrated than LoRA" in page
    assert "smollm2-l8 (63M)" in page
    # every run id is behind some row, linked to the MLflow UI
    for s in STRATEGIES:
        for k in range(len(SCALES)):
            assert run_id(s, k) in page
    assert (f"http://mlflow.example:5000/#/experiments/7/runs/{run_id('fft', 0)}" in page)
    assert f"http://mlflow.example:5000/#/runs/{run_id('lora', 1)}" in page
    # corpus section
    assert "Data expectations: 2 passed, 1 failed." in page
    assert "max_clause_chars" in page
    # figures: embedded and on disk
    figures = path.parent / "figures"
    names = re.findall(r"data-file='figures/([\w.]+)\.png'", page)
    assert {"focus_by_strategy", "category_share_vs_scale", "similarity_vs_scale",
            "heatmap_1", "heatmap_2", "heatmap_3"} <= set(names)
    assert page.count("<img src='data:image/png;base64,") == len(names)
    for name in names:
        png = figures / f"{name}.png"
        assert png.exists() and png.stat().st_size > 10_000
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<script" not in page                      # static, self-contained


def test_report_without_compare_outputs_and_no_effect(tmp_path):
    dirs = write_outputs(tmp_path, effect=False, seed=5)
    path = build_report(dirs["compare"], dirs["attributions"], dirs["eval"],
                        tmp_path / "reports", validation_summary=None, run_links={},
                        tracking_ui_url=None,
                        statistics=StatisticsParams(n_bootstrap=200, n_permutations=200))
    page = path.read_text(encoding="utf-8")
    assert "no significant difference in attribution entropy between FFT and LoRA" in page
    assert "No corpus validation summary" in page
    assert "href='http" not in page                   # no UI url: run ids unlinked
    assert run_id("qlora", 2) in page


def test_run_linker():
    linker = RunLinker({"abc": "3", "def": "https://x/run/def"}, "http://ui/")
    assert linker.url("abc") == "http://ui/#/experiments/3/runs/abc"
    assert linker.url("def") == "https://x/run/def"
    assert linker.url("zzz") == "http://ui/#/runs/zzz"
    assert RunLinker(None, None).url("abc") is None
    cell = linker.cell("fft-s1:abc;lora-s1:zzz")
    assert cell.count("<a href=") == 2 and "fft-s1" in cell
    assert RunLinker(None, None).cell(None) == "\u2013"
