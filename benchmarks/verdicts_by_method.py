"""Do the study's claim-1 verdicts change when the attribution method changes?

Takes a project where ``dvc repro`` has run (its models, its evaluation and its exact
leave-one-out attribution tables), picks one scale, and re-attributes the same clauses of every
strategy's model with a Captum estimator (:mod:`ccattr.estimators`: ``--method`` at budget
``--n-samples``), with the attribute stage's own settings otherwise. Then it runs the comparison
(:func:`ccattr.stats.run_comparison`) twice on the same clauses - once on the exact tables, once on
the estimator's - and prints one JSON object: time per clause, per-model agreement with exact
(mean Spearman of the word scores over clauses, top-1 word), claim 1's verdict both ways, and
every FFT-vs-other entropy and divergence test both ways (Holm p, effect, verdict).

    PYTHONPATH=src .venv/bin/python benchmarks/verdicts_by_method.py /path/to/project \\
        --scale smollm2-l30 --method kernel_shap --n-samples 32 --clauses 16

Claims 2 and 3 need three scales; at one scale the comparison is claim 1's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ccattr import stats  # noqa: E402
from ccattr.attribution import Attributor, attribute_many  # noqa: E402
from ccattr.config import load_params  # noqa: E402
from ccattr.estimators import METHODS  # noqa: E402
from ccattr.io import read_json, read_jsonl  # noqa: E402
from ccattr.models import load_finetuned  # noqa: E402
from ccattr.precision import resolve  # noqa: E402
from ccattr.prompts import PromptTemplate  # noqa: E402
from ccattr.runtime import (  # noqa: E402
    ATTR_DIR,
    BASE_DIR,
    EVAL_DIR,
    FINETUNED_DIR,
    PREDICTIONS_FILE,
    RUN_INFO_FILE,
)


def _claim1_tests(tables: dict[str, pd.DataFrame]) -> list[dict]:
    """The FFT-vs-other entropy and divergence tests, keyed for a side-by-side reading."""
    pw, div = tables["pairwise"], tables["divergence"]
    rows = []
    for r in pw[(pw["metric"] == "entropy") & (pw["a"] == "fft")].itertuples():
        rows.append({"test": f"entropy fft-{r.b}", "p_holm": r.p_holm, "effect": r.r, "verdict": r.verdict})
    for r in div[div["a"] == "fft"].itertuples():
        rows.append({"test": f"divergence fft-{r.b}", "p_holm": r.p_holm, "effect": r.category_jsd,
                     "verdict": r.verdict})
    return [{k: (round(float(v), 4) if isinstance(v, float) else v) for k, v in row.items()} for row in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project", type=Path)
    ap.add_argument("--scale", required=True)
    ap.add_argument("--method", default="kernel_shap", choices=[m for m in METHODS if m != "exact"])
    ap.add_argument("--n-samples", type=int, default=32)
    ap.add_argument("--clauses", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import transformers
    from scipy.stats import spearmanr

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    os.chdir(args.project)  # the pipeline's relative paths (runtime) resolve in the project
    params = load_params()
    ap_ = params.attribution
    device = torch.device("cpu")
    precision = resolve(ap_.precision, device)
    strategies = list(params.run.strategies)
    names = [f"{s}-{args.scale}" for s in strategies]

    # the exact side: the pipeline's own tables, restricted to the first clauses every model has
    exact_long, exact_clause = stats.load_attributions(ATTR_DIR, stats.runs_table(stats.load_eval(EVAL_DIR)))
    exact_long = exact_long[exact_long["scale"] == args.scale]
    exact_clause = exact_clause[exact_clause["scale"] == args.scale]
    common = set.intersection(*(set(exact_clause.loc[exact_clause["strategy"] == s, "clause_id"]) for s in strategies))
    order = [str(r["id"]) for r in read_jsonl(EVAL_DIR / names[0] / PREDICTIONS_FILE)]
    keep = [c for c in order if c in common][: args.clauses]

    long_parts, clause_parts, agreement, seconds = [], [], {}, 0.0
    for strategy, name in zip(strategies, names, strict=True):
        run = read_json(FINETUNED_DIR / name / RUN_INFO_FILE)
        model, tok = load_finetuned(strategy, params.strategies[strategy], BASE_DIR / args.scale,
                                    FINETUNED_DIR / name, precision, device)
        template = PromptTemplate(tok, params.prompt.system, params.prompt.instruction)
        att = Attributor(model, tok, template, unit=ap_.unit, perturbation=ap_.perturbation, target=ap_.target,
                         batch_size=ap_.batch_size, top_k_fraction=ap_.top_k_fraction, precision=precision,
                         method=args.method, n_samples=args.n_samples)
        rows = {str(r["id"]): r for r in read_jsonl(EVAL_DIR / name / PREDICTIONS_FILE)}
        clauses = [{"id": c, "clause": rows[c]["clause"], "target": rows[c]["prediction"],
                    "reference": rows[c]["reference"]} for c in keep]
        t0 = time.perf_counter()
        long_df, clause_df, _ = attribute_many(att, clauses, progress=False)
        seconds += time.perf_counter() - t0
        for df in (long_df, clause_df):
            df["strategy"], df["scale"], df["n_params"] = strategy, args.scale, run["n_params"]
        long_parts.append(long_df)
        clause_parts.append(clause_df)
        ex = exact_long[exact_long["strategy"] == strategy]
        rhos, top1 = [], []
        for cid, g in long_df.groupby("clause_id"):
            e = ex[ex["clause_id"] == cid].sort_values("unit_index")["raw_score"].to_numpy()
            m = g.sort_values("unit_index")["raw_score"].to_numpy()
            if len(e) > 1 and len(e) == len(m):
                rhos.append(float(spearmanr(m, e).statistic))
                top1.append(int(np.argmax(m) == np.argmax(e)))
        agreement[strategy] = {"spearman_mean": round(float(np.nanmean(rhos)), 4),
                               "top1_same": f"{sum(top1)}/{len(top1)}"}
        del model

    sides = {"exact": (exact_long[exact_long["clause_id"].isin(keep)],
                       exact_clause[exact_clause["clause_id"].isin(keep)]),
             args.method: (pd.concat(long_parts, ignore_index=True), pd.concat(clause_parts, ignore_index=True))}
    out = {}
    for side, (long_df, clause_df) in sides.items():
        tables, summary = stats.run_comparison(long_df, clause_df, pd.DataFrame(columns=["strategy"]),
                                               params.statistics, ap_.top_k_fraction)
        out[side] = {"claim1": summary["claims"]["1"].get("verdict"), "tests": _claim1_tests(tables)}
    changed = [a["test"] for a, b in zip(out["exact"]["tests"], out[args.method]["tests"], strict=True)
               if a["verdict"] != b["verdict"]]
    print(json.dumps({"project": str(args.project), "scale": args.scale, "clauses": len(keep),
                      "method": args.method, "n_samples": args.n_samples, "precision": precision.name,
                      "s_per_clause": round(seconds / (len(keep) * len(strategies)), 3),
                      "agreement_with_exact": agreement, "claim1_verdict": {k: v["claim1"] for k, v in out.items()},
                      "verdicts_changed": changed, "tests": out,
                      "torch": torch.__version__, "transformers": transformers.__version__}, indent=1))


if __name__ == "__main__":
    main()
