"""ccattr.report: a report rendered from a synthetic compare output written as the contract says
(``summary.json`` with findings and claims, ``tables/*.csv`` with ``runs.csv`` and
``examples.csv``) plus small attribute-stage tables (units, clauses, maps) and eval outputs
(3 strategies x 3 scales x 10 clauses). The report computes nothing, so the numbers are made up."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

from ccattr.report import MissingCompareOutput, RunLinker, build_report, fig_rule_map, group_rule_tokens
from ccattr.report.links import RunIndex
from ccattr.stats.methods import VERDICT_COLUMNS

STRATEGIES = ("fft", "lora", "qlora")
SCALES = (("smollm2-l8", 63_000_000), ("smollm2-l16", 135_000_000), ("smollm2", 360_000_000))
WORDS = [("Guards", "entity"), ("shall", "deontic"), ("comply", "function"), ("with", "function"),
         ("9.8.8.3", "rule_id"), ("and", "function"), ("be", "function"), ("at", "function"),
         ("least", "comparator"), ("1070", "number"), ("mm", "unit"), ("high", "entity"), (".", "punct")]
RULE = ("if(atom(fun(complies_with),var(guard),data(9.8.8.3))),then(obligation(atom(rel(greaterThanOrEqual),"
        "expr(fun(height),var(guard)),data({n} mm))))")
BROKEN = "obligation(atom(rel(greaterThanOrEqual),expr(fun(height"
EXAMPLES = [("9.8.7", "the strategies disagree most", 0.31),
            ("9.8.2", "a typical clause (median disagreement)", 0.12),
            ("9.8.4", "the strategies agree most", 0.02)]
N = 10


def run_id(strategy: str, k: int) -> str:
    return f"{strategy}{k}".ljust(32, "0")


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """A stand-in tokenizer: words and single symbols, with their character spans."""
    return [(m.group(), m.start(), m.end()) for m in re.finditer(r"\w+|[^\w\s]", text)]


def prediction(k: int, clause: int) -> str:
    # the largest FFT model writes a rule that does not parse for the first example clause
    return BROKEN if (k, clause) == (2, 7) else RULE.format(n=1000 + 35 * k)


# --------------------------------------------------------------------------- attribute + eval outputs


def write_models(root: Path) -> dict[str, Path]:
    """Per model: units, clauses and maps parquet (results/attributions), predictions.jsonl and
    metrics.json (results/eval)."""
    rng = np.random.default_rng(0)
    attr, ev = root / "results" / "attributions", root / "results" / "eval"
    attr.mkdir(parents=True)
    cats = np.array([c for _, c in WORDS])
    starts = np.cumsum([0] + [len(t) + 1 for t, _ in WORDS[:-1]])
    for s in STRATEGIES:
        for k, (scale, size) in enumerate(SCALES):
            name, rid = f"{s}-{scale}", run_id(s, k)
            meta = {"strategy": s, "scale": scale, "n_params": size, "run_id": rid, "family": "smollm2"}
            w = rng.gamma(2.0, 1.0, size=(N, len(WORDS)))
            p = w / w.sum(axis=1, keepdims=True)
            ent = -(p * np.log(p)).sum(axis=1) / np.log(len(WORDS))
            ids = [f"9.8.{c}" for c in range(N)]
            pd.DataFrame({
                "clause_id": np.repeat(ids, len(WORDS)), "unit_index": np.tile(np.arange(len(WORDS)), N),
                "text": np.tile([t for t, _ in WORDS], N), "category": np.tile(cats, N),
                "start": np.tile(starts, N), "end": np.tile(starts + [len(t) for t, _ in WORDS], N),
                "raw_score": w.ravel(), "norm_score": p.ravel(), **meta}).to_parquet(attr / f"{name}.parquet")
            pd.DataFrame({"clause_id": ids, "n_units": len(WORDS), "entropy": ent, "gini": 1 - ent,
                          "top_k_share": np.sort(p, axis=1)[:, -2:].sum(1), **meta}).to_parquet(
                attr / f"{name}.clauses.parquet")
            maps = []
            for c, cid in enumerate(ids):
                toks = tokenize(prediction(k, c))
                delta = rng.normal(0, 0.3, size=(len(WORDS), len(toks)))
                maps.append(pd.DataFrame({
                    "clause_id": cid, "unit_index": np.repeat(np.arange(len(WORDS)), len(toks)),
                    "token_index": np.tile(np.arange(len(toks)), len(WORDS)),
                    "token": [t for t, _, _ in toks] * len(WORDS),
                    "token_start": [a for _, a, _ in toks] * len(WORDS),
                    "token_end": [b for _, _, b in toks] * len(WORDS), "delta": delta.ravel()}))
            pd.concat(maps).assign(**meta).to_parquet(attr / f"{name}.maps.parquet")
            d = ev / name
            d.mkdir(parents=True)
            rows = [{"id": cid, "clause": " ".join(t for t, _ in WORDS), "reference": RULE.format(n=1070),
                     "prediction": prediction(k, c), "notation": "ccattr", "similarity": 0.5 + 0.1 * k}
                    for c, cid in enumerate(ids)]
            (d / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            (d / "metrics.json").write_text(json.dumps({**meta, "n": N, "similarity": 0.5 + 0.1 * k}))
    return {"attributions": attr, "eval": ev}


# --------------------------------------------------------------------------- compare output (the contract)

CLAIM_1 = ("Claim 1 (FFT attributions differ from and are more focused than LoRA/QLoRA): partly supported. "
           "FFT attributions were significantly more concentrated in 6 of 6 comparisons.")
CLAIM_3 = "Claim 3 (rule similarity gains plateau beyond some scale) cannot be assessed: needs >= 3 scales."
DETAIL = "At smollm2 (360M), FFT attributions are more concentrated than LoRA (Wilcoxon p < 0.001 & r = 0.9)."
FINDINGS = [CLAIM_1, "Claim 2 (more weight on numbers and rule identifiers as scale grows): supported - "
            "significant rises in 6 of 6 tests.", CLAIM_3, DETAIL]
CLAIMS = {"1": {"verdict": "partly supported", "n_comparisons": 6},
          "2": {"verdict": "supported", "n_tests": 6},
          "3": {"verdict": "not assessable", "reason": "needs >= 3 scales"}}


def compare_tables() -> dict[str, pd.DataFrame]:
    """Every table the compare stage publishes, without run ids (runs.csv has them)."""
    models = [(s, sc, size) for s in STRATEGIES for sc, size in SCALES]
    sizes = dict(SCALES)
    pairs = [("fft", "lora"), ("fft", "qlora"), ("lora", "qlora")]
    test = {"n": N, "mde": 0.94, "note": "", "verdict": "significant"}
    t = {"runs": pd.DataFrame([{"strategy": s, "scale": sc, "family": "smollm2", "n_params": size,
                                "run_id": run_id(s, k)} for s in STRATEGIES
                               for k, (sc, size) in enumerate(SCALES)])}
    t["similarity"] = pd.DataFrame([{"strategy": s, "scale": sc, "n_params": size, "n": N, "similarity": 0.61,
                                     "ci_low": 0.55, "ci_high": 0.66, "median": 0.6, "exact_match": 0.1,
                                     "lrml_f_score": 41.5} for s, sc, size in models])
    t["focus"] = pd.DataFrame([{"strategy": s, "scale": sc, "n_params": size, "n": N, "entropy_median": 0.7}
                               for s, sc, size in models])
    t["strategy_tests"] = pd.DataFrame([{
        "scale": sc, "n_params": size, "metric": m, "strategies": "fft,lora,qlora", "k": 3,
        "test": "friedman", "statistic": 15.8, "p": 0.0004, "effect_name": "Kendall's W",
        "effect_size": 0.79, "ci_low": 0.75,
        "ci_high": 0.96, "median_fft": 0.55, "median_lora": 0.87, "median_qlora": 0.91, **test}
        for sc, size in SCALES for m in ("entropy", "gini")])
    t["pairwise"] = pd.DataFrame([{
        "scale": sc, "n_params": size, "metric": m, "a": a, "b": b, "median_a": 0.55, "median_b": 0.87,
        "statistic": 0.0, "p": 0.002, "p_holm": 0.006 if a == "fft" else 0.2, "r": -1.0, "ci_low": -1.0,
        "ci_high": -0.8, **test} for sc, size in SCALES for m in ("entropy", "gini") for a, b in pairs])
    t["divergence"] = pd.DataFrame([{
        "scale": sc, "n_params": size, "a": a, "b": b, "mean_jsd": 0.17, "ci_low": 0.13, "ci_high": 0.23,
        "category_jsd": 0.037, "p": 0.08, "p_holm": 0.16, "n_permutations": 200, "medium": 0.02, **test}
        for sc, size in SCALES for a, b in pairs])
    t["divergence_clauses"] = pd.DataFrame([{"scale": "smollm2", "a": a, "b": b, "clause_id": f"9.8.{c}",
                                             "jsd": 0.1} for a, b in pairs for c in range(N)])
    t["category_shares"] = pd.DataFrame([{
        "strategy": s, "scale": sc, "n_params": size, "category": cat, "n": N, "mean": 0.1 + 0.05 * k,
        "ci_low": 0.05 + 0.05 * k, "ci_high": 0.15 + 0.05 * k, "unit_fraction": 0.08, "n_all": N,
        "mean_all": 0.1} for s in STRATEGIES for k, (sc, size) in enumerate(SCALES)
        for cat in ("number", "rule_id", "unit", "deontic")])
    t["trends"] = pd.DataFrame([{
        "strategy": s, "category": cat, "n_scales": 3, "scales": ",".join(sc for sc, _ in SCALES),
        "n_params": ",".join(str(v) for _, v in SCALES), "mean_share": "0.0343,0.1287,0.2420", "rho": 0.48,
        "ci_low": 0.3, "ci_high": 0.77, "p_spearman": 0.008, "page_L": 136.0, "p_page_increasing": 8e-5,
        "p_page": 0.00016, "p_holm": 0.0003,
        "family": "claim2" if cat in ("number", "rule_id") else "exploratory",
        "model_family": "smollm2", "cross_family": False, **test}
        for s in STRATEGIES for cat in ("number", "rule_id", "unit")])
    t["plateau_by_scale"] = pd.DataFrame([{
        "strategy": s, "scale": sc, "n_params": size, "n": N, "mean": 0.5 + 0.1 * k, "ci_low": 0.45 + 0.1 * k,
        "ci_high": 0.55 + 0.1 * k} for s in STRATEGIES for k, (sc, size) in enumerate(SCALES)])
    t["plateau_gains"] = pd.DataFrame([{
        "strategy": s, "from_scale": a, "to_scale": b, "from_n_params": sizes[a], "to_n_params": sizes[b],
        "doublings": 1.1, "gain": 0.1, "gain_per_doubling": 0.09, "ci_low": 0.05, "ci_high": 0.13,
        "below_threshold": False, "ci_covers_zero": False, "paired": True, "mde": 0.03}
        for s in STRATEGIES for a, b in (("smollm2-l8", "smollm2-l16"), ("smollm2-l16", "smollm2"))])
    t["plateau"] = pd.DataFrame([{
        "strategy": s, "n_scales": 3, "plateau_scale": "smollm2-l16" if s == "lora" else None,
        "plateau_n_params": None, "pattern": "plateau" if s == "lora" else "no plateau", "confirmed": False,
        "gain_threshold": 0.01, "last_from": "smollm2-l16", "last_to": "smollm2", "last_gain": 0.017,
        "last_ci_low": -0.005, "last_ci_high": 0.04, "note": ""} for s in STRATEGIES])
    t["examples"] = pd.DataFrame([{"scale": "smollm2", "clause_id": c, "why": why, "mean_jsd": j}
                                  for c, why, j in EXAMPLES])
    t["fidelity"] = pd.DataFrame([{
        "strategy": s, "scale": sc, "n_params": size, "kind": kind, "n_clauses": N, "n_items": 2 * N - k,
        "rate": 0.4 + 0.2 * k + (0.1 if kind == "number" else 0), "ci_low": 0.3 + 0.2 * k, "ci_high": 0.6 + 0.2 * k}
        for s in STRATEGIES for k, (sc, size) in enumerate(SCALES) for kind in ("number", "identifier")])
    t["fidelity_tests"] = t["strategy_tests"].assign(
        metric=lambda d: d["metric"].map({"entropy": "number_fidelity", "gini": "identifier_fidelity"}),
        statistic=4.2, p=0.12, effect_size=0.21, verdict="inconclusive")
    t["fidelity_pairwise"] = t["pairwise"].assign(
        metric=lambda d: d["metric"].map({"entropy": "number_fidelity", "gini": "identifier_fidelity"}))
    t["fidelity_trends"] = pd.DataFrame([{
        **t["trends"].iloc[0].to_dict(), "strategy": s, "category": kind, "mean_share": "0.5000,0.7250,nan",
        "family": "fidelity"} for s in STRATEGIES for kind in ("number", "identifier")])
    t["method_agreement"] = pd.DataFrame([{
        "method": m, "n_samples": 25, "strategy": s, "scale": sc, "n_params": size, "clauses": 4, "n_spearman": 4,
        "spearman": rho + 0.1 * k, "ci_low": rho - 0.2, "ci_high": rho + 0.2, "top_k_overlap": 0.5,
        "top1_same": 0.75, "s_per_clause": 1.3 * ratio, "exact_s_per_clause": 1.3, "cost_ratio": ratio}
        for m, rho, ratio in (("kernel_shap", 0.41, 1.5), ("lime", 0.2, 1.8)) for s in STRATEGIES
        for k, (sc, size) in enumerate(SCALES)])
    said = {c: v["verdict"] + (f": {v['reason']}" if "reason" in v else "") for c, v in CLAIMS.items()}
    claims = [{"kind": "claim", "claim": c, "n": 4, "n_method": 4, "exact": v, "verdict": v, "changed": False}
              for c, v in said.items()]
    tests = [{"kind": "pairwise", "scale": sc, "metric": "entropy", "a": a, "b": b, "n": 4, "n_method": 4,
              "exact": "inconclusive", "verdict": "not tested" if (a, b) == ("fft", "qlora") else "inconclusive",
              "changed": (a, b) == ("fft", "qlora")} for sc, _ in SCALES for a, b in pairs]
    tests += [{"kind": "trend", "strategy": s, "category": "number", "n": 4, "n_method": 4, "exact": "significant",
               "verdict": "significant", "changed": False} for s in STRATEGIES]
    t["method_verdicts"] = pd.DataFrame([{**r, "method": m} for m in ("kernel_shap", "lime") for r in claims + tests],
                                        columns=VERDICT_COLUMNS)
    return t


def write_compare(folder: Path) -> Path:
    for name, df in compare_tables().items():
        (folder / "tables").mkdir(parents=True, exist_ok=True)
        df.to_csv(folder / "tables" / f"{name}.csv", index=False)
    summary = {"alpha": 0.05, "n_bootstrap": 200, "n_permutations": 200, "plateau_gain": 0.01, "seed": 0,
               "quality_metric": "similarity", "notation": "ccattr", "top_k_fraction": 0.2,
               "metrics": ["entropy", "gini"], "strategies": list(STRATEGIES),
               "scales": [{"scale": sc, "n_params": v, "label": f"{sc} ({v // 1_000_000}M)"}
                          for sc, v in SCALES],
               "claims": CLAIMS, "findings": FINDINGS,
               "method_check": {"methods": ["kernel_shap", "lime"], "clauses": 4, "n_samples": 25, "per_method": {}}}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


VALIDATION = {"n_records": 120, "splits": {"train": 100, "test": 20},
              "expectations": [{"name": "no_empty_rules", "success": True},
                               {"name": "split_by_document", "success": True},
                               {"name": "max_clause_chars", "success": False}]}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pipeline")
    return {**write_models(root), "compare": write_compare(root / "results" / "compare"), "root": root}


@pytest.fixture(scope="module")
def report(outputs) -> tuple[Path, str]:
    path = build_report(outputs["compare"], outputs["attributions"], outputs["eval"],
                        outputs["root"] / "reports", validation_summary=VALIDATION,
                        run_links={run_id("fft", 0): "7"},
                        tracking_ui_url="http://mlflow.example:5000/")
    return path, path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the page


def section(page: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert m, f"no section {sid}"
    return m.group(1)


def test_every_section(report):
    path, page = report
    assert path.name == "index.html"
    ids = re.findall(r'<section id="(\w+)">', page)
    assert ids == ["findings", "corpus", "similarity", "focus", "scale", "examples", "method_check", "methods"]
    for sid in ids:
        assert f'href="#{sid}"' in page                                  # in the navigation
    sim = section(page, "similarity")
    assert "Published LRML F-scores" in sim and "Plateau per strategy" in sim and "Gain per doubling" in sim
    assert "smollm2-l16 (135M) \u2192 smollm2 (360M)" in sim              # plateau gains, scale labels
    focus = section(page, "focus")
    for heading in ("Omnibus tests across strategies", "Pairwise tests (entropy)",
                    "Pairwise tests for the Gini coefficient",
                    "Do the strategies attend to different words?"):
        assert heading in focus
    assert "Kendall&#39;s W 0.790" in focus and '<span class="sig">0.006' in focus
    scale = section(page, "scale")
    assert "Trend tests: numbers and rule identifiers" in scale and "Category shares per strategy" in scale
    assert "smollm2-l8 (63M): 3.4%" in scale
    assert "Number and identifier fidelity" in scale and "is <i>faithful</i> when" in scale
    assert "alpha = 0.05" in section(page, "methods") and "200 resamples" in section(page, "methods")
    assert "<script" not in page and "run_ids" not in page


def test_findings_claims_first_and_escaped(report):
    _, page = report
    findings = section(page, "findings")
    for sentence in FINDINGS:
        assert str(escape(sentence)) in findings
    assert "p &lt; 0.001 &amp; r" in findings                            # autoescaped, not raw
    assert findings.index(escape(CLAIM_3)) < findings.index("Details") < findings.index(escape(DETAIL))
    chips = re.findall(r'class="verdict ([\w-]+)" href="#(\w+)">claim (\d): ', findings)
    assert chips == [("partly-supported", "focus", "1"), ("supported", "scale", "2"),
                     ("not-assessable", "similarity", "3")]


def test_corpus_section(report, outputs, tmp_path):
    corpus = section(report[1], "corpus")
    assert "Data expectations: 2 passed, 1 failed." in corpus and "max_clause_chars" in corpus
    assert "Counts and split" in corpus and "<th>train</th><td>100</td>" in corpus
    page = build_report(outputs["compare"], outputs["attributions"], outputs["eval"],
                        tmp_path / "reports").read_text(encoding="utf-8")
    assert "No corpus validation summary" in page
    assert 'href="http' not in page                                      # no UI url: runs unlinked
    assert f'data-run-id="{run_id("qlora", 2)}"' in page


def rows_with(page: str, *cells: str) -> list[str]:
    return [r for r in re.findall(r"<tr>(.*?)</tr>", page, re.S) if all(f"<td>{c}</td>" in r for c in cells)]


def test_run_links_joined_from_runs_csv(report):
    _, page = report
    # a pairwise row: the runs of a and b at its scale
    (row,) = rows_with(section(page, "focus"), "smollm2-l16 (135M)", "normalized entropy", "FFT vs QLoRA")
    assert re.findall(r'data-run-id="(\w+)"', row) == [run_id("fft", 1), run_id("qlora", 1)]
    # an omnibus row: the runs of its strategies at its scale
    (row,) = rows_with(section(page, "focus"), "smollm2-l8 (63M)", "normalized entropy", "friedman")
    assert re.findall(r'data-run-id="(\w+)"', row) == [run_id(s, 0) for s in STRATEGIES]
    # a trend row (strategy, no scale): every run of the strategy
    (row,) = rows_with(section(page, "scale"), "LoRA", "numbers", "claim2")
    assert re.findall(r'data-run-id="(\w+)"', row) == [run_id("lora", k) for k in range(3)]
    # linked: to the experiment when run_links knows it, else MLflow's run route
    assert f'href="http://mlflow.example:5000/#/experiments/7/runs/{run_id("fft", 0)}"' in page
    assert f'href="http://mlflow.example:5000/#/runs/{run_id("lora", 1)}"' in page


def test_fidelity_subsection(report):
    scale = section(report[1], "scale")
    fidelity = scale[scale.index('<h3 id="fidelity">'):]
    assert 'id="fig-fidelity_vs_scale"' in fidelity
    # the rates: one model's run; clauses, items, rate [CI]
    (row,) = rows_with(fidelity, "LoRA", "smollm2-l16 (135M)", "numbers")
    assert "<td>10</td><td>19</td><td>0.700 <span class=\"ci\">[0.500, 0.800]</span></td>" in row
    assert re.findall(r'data-run-id="(\w+)"', row) == [run_id("lora", 1)]
    # the strategy tests: omnibus and pairwise, metrics in words
    (row,) = rows_with(fidelity, "smollm2 (360M)", "identifier fidelity", "friedman")
    assert re.findall(r'data-run-id="(\w+)"', row) == [run_id(s, 2) for s in STRATEGIES]
    (row,) = rows_with(fidelity, "smollm2-l8 (63M)", "number fidelity", "FFT vs LoRA")
    assert re.findall(r'data-run-id="(\w+)"', row) == [run_id("fft", 0), run_id("lora", 0)]
    # the trends: mean fidelity (not share) by scale, a scale without items as a dash
    assert "<th>Mean fidelity by scale</th>" in fidelity and "Mean share by scale" not in fidelity
    (row,) = rows_with(fidelity, "QLoRA", "rule identifiers", "fidelity")
    assert "smollm2-l16 (135M): 72.5%" in row and "smollm2 (360M): \u2013" in row
    assert re.findall(r'data-run-id="(\w+)"', row) == [run_id("qlora", k) for k in range(3)]
    assert "<dt>Fidelity</dt>" in section(report[1], "methods")


def test_run_index_keys():
    runs = pd.DataFrame([{"strategy": s, "scale": sc, "n_params": v, "run_id": f"{s}-{sc}-id"}
                         for s in ("qlora", "lora", "fft") for sc, v in (("big", 2e9), ("small", 1e8))])
    index = RunIndex(runs, RunLinker(None, None))

    def ids(row: dict) -> list[str]:
        return [link.run_id for link in index.for_row(row)]

    assert ids({"a": "lora", "b": "fft", "scale": "big"}) == ["fft-big-id", "lora-big-id"]
    assert ids({"strategies": "qlora,lora", "scale": "small"}) == ["lora-small-id", "qlora-small-id"]
    assert ids({"strategy": "fft", "scale": "big"}) == ["fft-big-id"]
    assert ids({"strategy": "fft", "scale": float("nan")}) == ["fft-small-id", "fft-big-id"]  # by size
    assert ids({"category": "number"}) == []
    assert index.for_row({"strategy": "fft", "scale": "big"})[0].name == "fft-big"


def test_run_linker():
    linker = RunLinker({"abc": "3", "def": "https://x/run/def"}, "http://ui/")
    assert linker.url("abc") == "http://ui/#/experiments/3/runs/abc"
    assert linker.url("def") == "https://x/run/def"
    assert linker.url("zzz") == "http://ui/#/runs/zzz"
    assert RunLinker(None, None).url("abc") is None


# --------------------------------------------------------------------------- figures and examples


def test_figures_embedded_and_saved(report):
    path, page = report
    names = re.findall(r'data-file="figures/(\w+)\.png"', page)
    assert sorted(names) == sorted(["similarity_vs_scale", "focus_by_strategy", "category_share_vs_scale",
                                    "fidelity_vs_scale", "method_agreement",
                                    *(f"{kind}_{k}" for kind in ("heatmap", "rulemap") for k in (1, 2, 3))])
    assert page.count('<img src="data:image/png;base64,') == len(names)
    for name in names:
        png = path.parent / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert sorted(p.stem for p in (path.parent / "figures").iterdir()) == sorted(names)


def test_examples_from_examples_csv(report):
    examples = section(report[1], "examples")
    heads = re.findall(r"<h3>Clause <code>([\d.]+)</code> at smollm2 \(360M\): ([^<]+)</h3>", examples)
    assert heads == [(c, why) for c, why, _ in EXAMPLES]
    assert "mean pairwise JSD 0.310" in examples
    # the rule map is FFT's; its broken rule for 9.8.7 is shown ungrouped, with the reason
    assert examples.count("token of FFT's generated rule") == 3
    first, second = examples.split("<h3>")[1:3]
    assert "the rule does not parse in the ccattr notation" in first
    assert "does not parse" not in second
    assert "Clause text and generated rules" in first and escape(BROKEN) in first
    assert escape(RULE.format(n=1070)) in first                          # the reference rule


def test_group_rule_tokens_on_a_corpus_rule():
    lines = Path("data/corpus/egress.jsonl").read_text(encoding="utf-8").splitlines()
    record = next(json.loads(line) for line in lines if '"egress-001"' in line)
    rule = record["rule"]        # if(... occupant_load ... data(50))),then(obligation(... data(2))))
    toks = tokenize(rule)
    groups = group_rule_tokens(rule, [(a, b) for _, a, b in toks], "ccattr")
    assert groups.note is None
    assert [name for name, _, _ in groups.parts] == ["condition", "then: obligation"]
    (_, a0, b0), (_, a1, b1) = groups.parts
    assert (a0, b1) == (0, len(toks)) and b0 == a1                      # contiguous, covering every token
    condition = "".join(t for t, _, _ in toks[a0:b0])
    assert condition.startswith("if(atom(rel(greaterThan)") and condition.endswith("data(50))),")
    assert "".join(t for t, _, _ in toks[a1:b1]).startswith("then(obligation(")
    assert [t for (t, _, _), m in zip(toks, groups.marks, strict=True) if m] == ["50", "2"]
    assert set(groups.marks) == {None, "number"}


def test_group_rule_tokens_identifiers_lrml_and_failures():
    rule = RULE.format(n=1070)
    toks = tokenize(rule)
    groups = group_rule_tokens(rule, [(a, b) for _, a, b in toks], "ccattr")
    marked = {m: [t for (t, _, _), mm in zip(toks, groups.marks, strict=True) if mm == m]
              for m in ("number", "identifier")}
    assert marked == {"number": ["1070"], "identifier": ["9", ".", "8", ".", "8", ".", "3"]}
    lrml = ("if(and(has(space,naturalVentilation),greaterThan(space.occupantLoad,0))),"
            "then(obligation(has(space,opening)))")
    toks = tokenize(lrml)
    assert [p[0] for p in group_rule_tokens(lrml, [(a, b) for _, a, b in toks], "lrml").parts] == \
        ["condition", "then: obligation"]
    one = "obligation(atom(fun(has),var(stair),data(handrail)))"      # a deontic root is one part
    assert [p[0] for p in group_rule_tokens(one, [(0, 10), (10, 11)], "ccattr").parts] == ["obligation"]
    for bad, notation, reason in ((BROKEN, "ccattr", "does not parse"), (one, "mixed (ccattr 2, lrml 1)",
                                                                         "unknown rule notation"),
                                  (one, "ccattr", "no character offsets")):
        spans = [(-1, -1)] * 3 if reason == "no character offsets" else [(0, 10), (10, 11), (11, 15)]
        groups = group_rule_tokens(bad, spans, notation)
        assert groups.parts == [("rule", 0, 3)] and reason in groups.note and groups.marks == [None] * 3


def test_fig_rule_map_draws_the_parts():
    rule = RULE.format(n=1070)
    toks = tokenize(rule)
    groups = group_rule_tokens(rule, [(a, b) for _, a, b in toks], "ccattr")
    cells = pd.DataFrame([{"unit_index": u, "token_index": t, "delta": 0.1 * (u - t)}
                          for u in range(3) for t in range(len(toks))])
    fig = fig_rule_map(cells, ["Guards", "shall", "1070"], [t for t, _, _ in toks], groups)
    ax = fig.axes[0]
    assert {t.get_text() for t in ax.texts} - {""} == {"condition", "then: obligation"}
    labels = {lab.get_text(): lab.get_color() for lab in ax.get_xticklabels()}
    assert labels["1070"] == "#0072B2" and labels["obligation"] == "black"
    assert ax.images[0].get_array().shape == (3, len(toks))
    assert fig_rule_map(cells.iloc[0:0], ["a"], ["b"], groups) is None


# --------------------------------------------------------------------------- no fallback


@pytest.mark.parametrize("missing", ["summary.json", "tables/runs.csv", "tables/examples.csv",
                                     "tables/pairwise.csv", "tables/fidelity.csv", "tables/method_agreement.csv",
                                     "tables/method_verdicts.csv"])
def test_missing_compare_output_is_an_error(outputs, tmp_path, missing):
    compare = write_compare(tmp_path / "compare")
    (compare / missing).unlink()
    with pytest.raises(MissingCompareOutput, match=rf"{re.escape(missing)} is missing.*`dvc repro compare`"):
        build_report(compare, outputs["attributions"], outputs["eval"], tmp_path / "reports")
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("key", ["findings", "method_check"])
def test_summary_from_an_older_compare_is_an_error(outputs, tmp_path, key):
    compare = write_compare(tmp_path / "compare")
    summary = json.loads((compare / "summary.json").read_text())
    del summary[key]
    (compare / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(MissingCompareOutput, match=rf"summary.json has no '{key}'.*dvc repro compare"):
        build_report(compare, outputs["attributions"], outputs["eval"], tmp_path / "reports")


def test_empty_tables_render(tmp_path):
    """Nothing attributed yet (empty tables, no example clauses, no attribution files): the page
    still renders every section, saying there is no data."""
    compare = write_compare(tmp_path / "compare")
    for name in ("examples", "category_shares", "trends", "plateau_gains", "divergence", "fidelity",
                 "fidelity_tests", "fidelity_pairwise", "fidelity_trends"):
        (compare / "tables" / f"{name}.csv").write_text("\n")        # how an empty table is written
    (tmp_path / "attributions").mkdir()
    page = build_report(compare, tmp_path / "attributions", tmp_path / "eval",
                        tmp_path / "reports").read_text(encoding="utf-8")
    assert len(re.findall(r'<section id="(\w+)">', page)) == 8
    assert "No attributions to show." in section(page, "examples")
    assert "No data for figure <code>focus_by_strategy</code>" in page
    assert "No data for figure <code>category_share_vs_scale</code>" in page
    assert "0 evaluated clauses, 0 attributed clauses" in page
    assert "No data." in section(page, "focus")                         # the divergence table
    # rules without numbers: no fidelity figure, every fidelity table says so
    fidelity = section(page, "scale").split('<h3 id="fidelity">')[1]
    assert "No data for figure <code>fidelity_vs_scale</code>" in fidelity
    assert fidelity.count("No data.") == 4


# --------------------------------------------------------------------------- cheaper estimators


def test_method_check_section(report):
    check = section(report[1], "method_check")
    assert "KernelSHAP (25 coalitions), LIME (25 coalitions)" in check and "first 4 attributed clauses" in check
    assert 'id="fig-method_agreement"' in check
    # agreement: the method with its budget, Spearman [CI], top-20% overlap header, cost ratio, the model's run
    assert "<th>Top-20% overlap</th>" in check
    (row,) = rows_with(check, "KernelSHAP (25 coalitions)", "LoRA", "smollm2-l16 (135M)")
    assert '+0.51 <span class="ci">[+0.21, +0.61]</span>' in row and "<td>1.5\u00d7</td>" in row
    assert re.findall(r'data-run-id="(\w+)"', row) == [run_id("lora", 1)]
    # verdicts: 2 methods x (3 claims + 9 pairwise + 3 trends) rows, folded; a change is marked
    assert "All 30 verdicts, exact vs each estimator" in check
    (row,) = rows_with(check, "LIME", "normalized entropy: FFT vs QLoRA", "smollm2 (360M)")
    assert "<td>inconclusive</td><td>not tested</td>" in row and '<span class="sig">yes</span>' in row
    assert re.findall(r'data-run-id="(\w+)"', row) == [run_id("fft", 2), run_id("qlora", 2)]
    (row,) = rows_with(check, "KernelSHAP", "claim 3")
    assert "not assessable: needs &gt;= 3 scales" in row and "<td>no</td>" in row
    assert rows_with(check, "KernelSHAP", "share on numbers vs scale, QLoRA")
    assert "<dt>Cheaper estimators</dt>" in section(report[1], "methods")


def test_method_check_section_without_methods(outputs, tmp_path):
    """methods: [] writes empty check tables: the section says so in one sentence, and how to turn it on."""
    compare = write_compare(tmp_path / "compare")
    summary = json.loads((compare / "summary.json").read_text())
    summary["method_check"] = {"methods": [], "clauses": 4, "n_samples": 25, "per_method": {}}
    (compare / "summary.json").write_text(json.dumps(summary))
    for name, columns in (("method_agreement", ["method", "strategy", "scale", "spearman"]),
                          ("method_verdicts", VERDICT_COLUMNS)):
        (compare / "tables" / f"{name}.csv").write_text(",".join(columns) + "\n")
    page = build_report(compare, outputs["attributions"], outputs["eval"], tmp_path / "reports").read_text(
        encoding="utf-8")
    check = section(page, "method_check")
    assert "No cheaper estimator was checked" in check and "<code>method_check.methods</code>" in check
    assert "<table" not in check and "<img" not in check
    assert not (tmp_path / "reports" / "figures" / "method_agreement.png").exists()
