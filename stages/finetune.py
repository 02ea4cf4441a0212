"""DVC stage finetune@<strategy>-<scale>: train one model, tracked in its own MLflow run.

Resumable: progress is checkpointed under checkpoints/<name>/<inputs-hash>/ (outside DVC's
outputs, which DVC clears before a run), so `dvc repro` after a kill continues where it stopped.
Multi-GPU: set `training.launcher` to an `accelerate launch --config_file ...` command; only the
main process talks to MLflow and writes the model.
"""

import sys
from contextlib import nullcontext

import mlflow
from accelerate import Accelerator

from ccattr import notations, tracking
from ccattr.finetune import (
    build_model,
    clear_checkpoint,
    count_trainable,
    save_final,
    split_validation,
    train,
)
from ccattr.io import read_json, read_jsonl, sha256_file, sha256_text, write_json
from ccattr.precision import resolve
from ccattr.prompts import PromptTemplate
from ccattr.runtime import (
    BASE_DIR,
    CHECKPOINT_DIR,
    FINETUNED_DIR,
    METRICS_FILE,
    MODEL_INFO_FILE,
    TRAIN_DIR,
    VALIDATED_TRAIN,
    first_work,
    init_stage,
)


def main(strategy: str, scale: str) -> None:
    name = f"{strategy}-{scale}"
    params = init_stage(f"finetune@{name}")
    sp, tp = params.strategies[strategy], params.training
    accelerator = Accelerator(gradient_accumulation_steps=tp.grad_accum)
    main_process = accelerator.is_main_process
    if main_process:
        tracking.setup(params.tracking)  # fails fast on an unreachable server, before training
    base_info = read_json(BASE_DIR / scale / MODEL_INFO_FILE)
    train_rows, val_rows = split_validation(read_jsonl(VALIDATED_TRAIN), tp.val_fraction, params.seed)
    notation = notations.label([r.get("notation", params.corpus.notation) for r in train_rows])
    corpus_digest = sha256_file(VALIDATED_TRAIN)
    inputs = sha256_text(repr((strategy, sp, tp, params.prompt, params.seed, base_info["sha256"],
                               corpus_digest)))[:16]
    ckpt = CHECKPOINT_DIR / name / inputs
    run_file = CHECKPOINT_DIR / name / f"{inputs}.run_id"
    run_id = run_file.read_text().strip() if run_file.exists() else None

    device = accelerator.device
    precision = resolve(tp.precision, device)
    model, tok = build_model(strategy, sp, BASE_DIR / scale, precision, device, tp.gradient_checkpointing,
                             seed=params.seed)
    template = PromptTemplate(tok, params.prompt.system, params.prompt.instruction)
    trainable, total = count_trainable(model)
    run_ctx = tracking.start_run(run_name=name, run_id=run_id, stage="finetune",
                                 tags={"strategy": strategy, "scale": scale, "seed": params.seed,
                                       "base_model": base_info["source"], "model_name": name,
                                       "base_model_sha256": sha256_text(repr(sorted(base_info["sha256"].items()))),
                                       "corpus_digest": corpus_digest, "notation": notation,
                                       **precision.tags("train")}) \
        if main_process else nullcontext()
    with run_ctx as run:
        if main_process:
            run_file.parent.mkdir(parents=True, exist_ok=True)
            run_file.write_text(run.info.run_id)
            if run_id is None:
                tracking.log_dataset(train_rows, "train", VALIDATED_TRAIN, corpus_digest)
                tracking.log_params({
                    "strategy": strategy, "scale": scale, "seed": params.seed, "hp": sp.model_dump(),
                    "training": tp.model_dump(), "prompt": params.prompt.model_dump(),
                    "n_params": base_info["n_params"], "trainable_params": trainable, "total_params": total,
                    "n_train": len(train_rows), "n_val": len(val_rows), "device": device.type,
                    "precision": precision.name, "num_processes": accelerator.num_processes,
                    "quantization": getattr(getattr(model, "config", None), "quantization_config", None)
                    and str(model.config.quantization_config.to_dict())})
        first_work(f"finetune@{name}")
        result = train(model, template, train_rows, val_rows, tp, sp, params.seed, ckpt,
                       log_fn=lambda m, step: mlflow.log_metrics(m, step=step), accelerator=accelerator,
                       precision=precision)
        # Every process takes part in gathering the full weights (FSDP shards them); main saves.
        state_dict = accelerator.get_state_dict(model) if accelerator.num_processes > 1 else None
        accelerator.wait_for_everyone()
        if not main_process:
            return
        info = {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id, "strategy": strategy,
                "scale": scale, "n_params": base_info["n_params"], "family": base_info.get("family"),
                "trainable_params": trainable,
                "steps": result.steps, "final_loss": result.final_loss, "val_losses": result.val_losses,
                "tokens_per_s": result.tokens_per_s, "seconds": result.seconds,
                "peak_memory_mb": result.peak_memory_mb, "resumed_from_step": result.resumed_from_step}
        out = FINETUNED_DIR / name
        save_final(accelerator.unwrap_model(model), tok, out, info, state_dict)
        mlflow.log_metrics({"final_loss": result.final_loss, "train_tokens_per_s": result.tokens_per_s,
                            "train_seconds": result.seconds, "peak_memory_mb": result.peak_memory_mb,
                            "n_skipped_too_long": len(result.skipped_too_long)})
        mlflow.set_tags({"checkpoint_path": str(out),
                         **{f"sha256.{w.name}": sha256_file(w) for w in sorted(out.glob("*.safetensors"))}})
        if strategy != "fft":  # adapters are small: keep a copy with the run
            mlflow.log_artifacts(str(out), artifact_path="adapter")
        elif params.tracking.log_full_weights:
            mlflow.log_artifacts(str(out), artifact_path="model")
        # Deterministic training figures for `dvc metrics diff` / `dvc exp show` (timings stay in MLflow).
        write_json(TRAIN_DIR / name / METRICS_FILE, {
            "final_loss": result.final_loss, "val_loss": result.val_losses[-1] if result.val_losses else None,
            "steps": result.steps, "tokens": result.tokens, "trainable_params": trainable,
            "n_skipped_too_long": len(result.skipped_too_long)})
    clear_checkpoint(ckpt)
    run_file.unlink(missing_ok=True)
    print(f"{name}: {result.steps} steps, final loss {result.final_loss:.4f}, "
          f"{result.tokens_per_s:.0f} tokens/s, run {run.info.run_id}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
