"""Fine-tuning, nanoGPT style: one readable loop for every strategy.

Strategies differ only in how the model is built (:func:`build_model`):

- ``fft``   all weights trained;
- ``lora``  peft LoRA adapters (all linear layers by default), base frozen;
- ``qlora`` base weights in bitsandbytes 4-bit NF4 (double quantization), LoRA on top;
- ``hybrid`` LoRA plus base modules trained in full (``trainable_extra``: norms by default).

The loop is the same for all of them: the prompt comes from the model's chat template, the
loss is the mean cross-entropy over the rule tokens only (logits are computed at those
positions only), batches are length-bucketed so padding wastes little compute, the schedule
is warmup + cosine/linear, gradients are clipped, a non-finite loss stops the run, and
resumable checkpoints are written atomically. ``accelerate`` places the model, so the same
code runs on CPU, one GPU, or several GPUs under ``accelerate launch``.

    >>> result = train(model, template, train_records, val_records,
    ...                params.training, params.strategies["lora"], seed=1234,
    ...                checkpoint_dir="checkpoints/lora-s1")            # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import random
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ccattr.config import StrategyParams, TrainingParams
from ccattr.io import atomic_dir, read_json, recover_swap, write_json
from ccattr.models import ModelLoadError, verify_safetensors
from ccattr.precision import FP32, Precision, resolve
from ccattr.prompts import PromptTemplate
from ccattr.runtime import RUN_INFO_FILE

log = logging.getLogger(__name__)
IGNORE = -100


class CheckpointError(ModelLoadError):
    """A resume checkpoint is unreadable; the message names the file and how to start over."""


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left in place."""


# ---------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    rule_start: int  # index of the first rule token; the loss covers [rule_start, end)


class ExampleTooLong(ValueError):
    """An example does not fit ``training.max_seq_len`` and ``training.too_long`` is ``refuse``."""


def build_examples(records: Sequence[dict], template: PromptTemplate, max_seq_len: int,
                   too_long: str = "skip") -> tuple[list[Example], list[str]]:
    """Tokenize prompt and rule separately (as generation and attribution do), then join.

    An example over ``max_seq_len`` tokens is never cut (a cut rule teaches a cut rule): it is
    skipped (``too_long="skip"``; returned in the second list, by id) or refused
    (``"refuse"``: :class:`ExampleTooLong` naming every such record)."""
    out: list[Example] = []
    skipped: list[tuple[str, int]] = []
    for r in records:
        prompt = template.encode_prompt(r["clause"])
        rule = template.encode_rule(r["rule"])
        if len(prompt) + len(rule) > max_seq_len:
            skipped.append((str(r.get("id", "?")), len(prompt) + len(rule)))
            continue
        out.append(Example(prompt + rule, len(prompt)))
    if skipped and too_long == "refuse":
        listed = ", ".join(f"{rid} ({n} tokens)" for rid, n in skipped[:10])
        raise ExampleTooLong(f"{len(skipped)} example(s) exceed training.max_seq_len={max_seq_len}: {listed}"
                             f"{' ...' if len(skipped) > 10 else ''}; raise max_seq_len or set "
                             f"training.too_long: skip")
    if skipped:
        log.warning("skipped %d example(s) longer than max_seq_len=%d tokens (never cut): %s",
                    len(skipped), max_seq_len, ", ".join(rid for rid, _ in skipped[:10]))
    if not out:
        raise ValueError(f"no training example fits max_seq_len={max_seq_len}")
    return out, [rid for rid, _ in skipped]


def split_validation(rows: Sequence[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Hold out a seeded ``fraction`` of the training rows for the per-epoch validation loss."""
    order = sorted(rows, key=lambda r: r["id"])
    random.Random(seed).shuffle(order)
    n_val = int(round(fraction * len(order))) if fraction > 0 and len(order) > 1 else 0
    return order[n_val:], order[:n_val]


def bucketed_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Shuffle, sort by length inside windows of 50 batches, shuffle the batches.

    Examples of similar length share a batch (little padding) while batch order stays random;
    the order depends on (seed, epoch) only, so a resumed run sees the same batches.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    window = batch_size * 50
    batches = []
    for w in range(0, len(idx), window):
        chunk = sorted(idx[w:w + window], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        mask[i, :n] = 1
        labels[i, e.rule_start:n] = ids[i, e.rule_start:n]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


# ---------------------------------------------------------------------------- model


class RuleLoss(nn.Module):
    """Wrap a causal LM; ``forward`` returns (summed rule-token loss, number of rule tokens).

    Only hidden states at positions that predict a rule token go through the LM head, which
    saves the vocabulary projection everywhere else (a large share of a small model's FLOPs).
    A module of its own so that DDP/FSDP see the whole computation in ``forward``.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.decoder = base.get_decoder()
        self.head = base.get_output_embeddings()

    def forward(self, input_ids, attention_mask, labels):
        hidden = self.decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)[0]
        target = labels[:, 1:]
        keep = target != IGNORE
        h = hidden[:, :-1][keep]
        logits = self.head(h).float()
        loss = F.cross_entropy(logits, target[keep], reduction="sum")
        return loss, keep.sum()


def build_model(strategy: str, sp: StrategyParams, base_dir: str | Path, precision: Precision,
                device: torch.device, gradient_checkpointing: bool = False, seed: int = 0):
    """Load the base model and shape it for the strategy. Returns (model, tokenizer).

    Weights are held in ``precision.weights_dtype`` (fp32 master weights for ``bf16-mixed``);
    QLoRA's 4-bit base computes in ``precision.compute_dtype``."""
    from ccattr.models import load_base, quantization_config

    qconf = quantization_config(sp, precision.compute_dtype)
    device_map = {"": device} if qconf is not None else None
    model, tok = load_base(base_dir, dtype=precision.weights_dtype, quantization_config=qconf,
                           device_map=device_map)
    model.config.use_cache = False
    if strategy == "fft":
        if gradient_checkpointing:
            model.gradient_checkpointing_enable()
        return model, tok
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if qconf is not None:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    lc = sp.lora
    torch.manual_seed(seed)  # LoRA A matrices are initialised at random
    config = LoraConfig(
        r=lc.r, lora_alpha=lc.alpha, lora_dropout=lc.dropout, target_modules=lc.target_modules,
        modules_to_save=list(sp.trainable_extra) or None, task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config), tok


def count_trainable(model: nn.Module) -> tuple[int, int]:
    from ccattr.models import count_params

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = count_params(model)
    # bitsandbytes packs two 4-bit weights per uint8 element: count real parameters.
    for m in model.modules():
        w = getattr(m, "weight", None)
        if w is not None and type(w).__name__ == "Params4bit":
            total += w.numel()  # the stored element count is half the logical count
    return trainable, total


# ---------------------------------------------------------------------------- loop


@dataclass
class TrainResult:
    steps: int
    epochs_run: int
    final_loss: float
    val_losses: list[float]
    tokens: int
    tokens_per_s: float
    seconds: float
    peak_memory_mb: float
    resumed_from_step: int | None
    stopped_early: bool
    history: list[dict[str, float]] = field(default_factory=list)
    skipped_too_long: list[str] = field(default_factory=list)
    """Ids of training examples over ``max_seq_len``, left out (never cut)."""


def _schedule(optimizer, tp: TrainingParams, total_steps: int):
    from transformers import get_scheduler

    warmup = int(math.ceil(tp.warmup_ratio * total_steps))
    return get_scheduler(tp.schedule if tp.schedule != "constant" else "constant_with_warmup",
                         optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights a checkpoint must hold: adapters (+ extras) for PEFT, everything for FFT."""
    if hasattr(model, "peft_config"):
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(model)
    return model.state_dict()


def _load_trainable(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    if hasattr(model, "peft_config"):
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, state)
    else:
        model.load_state_dict(state)


def save_checkpoint(path: Path, model, optimizer, scheduler, progress: dict[str, Any], tokenizer=None) -> None:
    """Atomic: written to a temp folder, renamed over the previous checkpoint.

    Holds the trained weights (full for FFT, adapters for PEFT) as safetensors, the tokenizer,
    and what resuming needs: optimizer and scheduler state, the torch RNG state and the
    position in the data order (``progress.json``)."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in trainable_state(model).items()}
    # Tied weights share storage; safetensors refuses shared tensors, so clone them apart.
    state = {k: v.clone() for k, v in state.items()}
    with atomic_dir(path) as tmp:
        save_file(state, tmp / "weights.safetensors")
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state()}, tmp / "optimizer.pt")
        write_json(tmp / "progress.json", progress)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp / "tokenizer")


def load_checkpoint(path: Path, model, optimizer, scheduler) -> dict[str, Any] | None:
    from safetensors.torch import load_file

    recover_swap(path)
    if not (path / "progress.json").exists():
        return None
    # Checkpoints are renamed into place whole, so damage here means disk trouble or a hand edit.
    hint = f"delete it with `rm -rf {path}` and run `dvc repro` again to train this model from scratch"
    verify_safetensors(path / "weights.safetensors", hint=hint, error=CheckpointError)
    current = path / "weights.safetensors"
    try:
        _load_trainable(model, load_file(current))
        current = path / "optimizer.pt"
        # weights_only=True: plain tensors and containers, no arbitrary pickled objects.
        extra = torch.load(current, weights_only=True)
        current = path / "progress.json"
        progress = read_json(current)
    except Exception as err:
        raise CheckpointError(f"{current}: the resume checkpoint is unreadable ({type(err).__name__}: {err}); "
                              f"{hint}") from err
    optimizer.load_state_dict(extra["optimizer"])
    scheduler.load_state_dict(extra["scheduler"])
    torch.set_rng_state(extra["torch_rng"])
    return progress


@torch.no_grad()
def evaluate_loss(loss_model: nn.Module, examples: Sequence[Example], batch_size: int, pad_id: int,
                  device: torch.device, precision: Precision | None = None) -> float:
    loss_model.eval()
    total, n = 0.0, 0
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    for i in range(0, len(order), batch_size):
        batch = collate([examples[j] for j in order[i:i + batch_size]], pad_id)
        with (precision or FP32).autocast():
            loss, count = loss_model(**{k: v.to(device) for k, v in batch.items()})
        total += float(loss)
        n += int(count)
    loss_model.train()
    return total / max(n, 1)


def train(model: nn.Module, template: PromptTemplate, train_records: Sequence[dict],
          val_records: Sequence[dict], tp: TrainingParams, sp: StrategyParams, seed: int,
          checkpoint_dir: str | Path, log_fn: Callable[[dict[str, float], int], None] | None = None,
          accelerator=None, precision: Precision | None = None) -> TrainResult:
    """Train ``model`` in place on (clause, rule) records; resume from ``checkpoint_dir`` if present.

    ``precision`` (default: ``training.precision`` resolved for the device) runs the forward passes
    under bf16 autocast for ``bf16-mixed``; the optimizer steps the model's own (fp32) weights."""
    from accelerate import Accelerator

    accelerator = accelerator or Accelerator(gradient_accumulation_steps=tp.grad_accum)
    device = accelerator.device
    precision = precision or resolve(tp.precision, device)
    tok = template.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    train_ex, skipped = build_examples(train_records, template, tp.max_seq_len, tp.too_long)
    val_ex = build_examples(val_records, template, tp.max_seq_len, tp.too_long)[0] if val_records else []
    lengths = [len(e.input_ids) for e in train_ex]

    # Each process takes every world_size-th batch of the same global order (DDP-style).
    def epoch_batches(epoch: int) -> list[list[int]]:
        batches = bucketed_batches(lengths, tp.batch_size, seed, epoch)
        return batches[accelerator.process_index::accelerator.num_processes]

    steps_per_epoch = max(1, len(epoch_batches(0)) // tp.grad_accum)
    total_steps = tp.epochs * steps_per_epoch
    if tp.max_steps is not None:
        total_steps = min(total_steps, tp.max_steps) if tp.epochs > 1 else tp.max_steps
    epochs = max(tp.epochs, math.ceil(total_steps / steps_per_epoch))

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=sp.learning_rate, weight_decay=sp.weight_decay)
    scheduler = _schedule(optimizer, tp, total_steps)
    loss_model = RuleLoss(model)
    loss_model, optimizer, scheduler = accelerator.prepare(loss_model, optimizer, scheduler)

    ckpt = Path(checkpoint_dir)
    progress = load_checkpoint(ckpt, accelerator.unwrap_model(loss_model).model, optimizer, scheduler)
    step = progress["step"] if progress else 0
    start_epoch = progress["epoch"] if progress else 0
    skip_batches = progress["batch"] if progress else 0
    val_losses: list[float] = progress["val_losses"] if progress else []
    history: list[dict[str, float]] = []
    best_val, bad_epochs, stopped_early = math.inf, 0, False
    for v in val_losses:
        best_val, bad_epochs = (v, 0) if v < best_val else (best_val, bad_epochs + 1)

    # Under FSDP the parameters and optimizer state are sharded across processes; the main
    # process alone cannot write a resumable checkpoint, so such runs restart from scratch.
    from accelerate.utils import DistributedType

    sharded = accelerator.distributed_type == DistributedType.FSDP
    if sharded:
        log.warning("FSDP: resumable checkpoints are off (sharded state); a killed run restarts")

    def checkpoint(epoch: int, batch: int) -> None:
        if sharded:
            return
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            save_checkpoint(ckpt, accelerator.unwrap_model(loss_model).model, optimizer, scheduler,
                            {"step": step, "epoch": epoch, "batch": batch, "val_losses": val_losses,
                             "seed": seed, "tokens": tokens_before + tokens}, tokenizer=tok)

    loss_model.train()
    # ``tokens`` counts this session's work (for tokens/s); the total adds what came before a resume.
    tokens_before = progress.get("tokens", 0) if progress else 0
    t0, tokens, last_loss = time.perf_counter(), 0, float("nan")
    window_t, window_tokens = time.perf_counter(), 0
    epoch = start_epoch
    for epoch in range(start_epoch, epochs):
        batches = epoch_batches(epoch)
        usable = (len(batches) // tp.grad_accum) * tp.grad_accum
        b = skip_batches if epoch == start_epoch else 0
        while b < usable and step < total_steps:
            step_loss, step_count, grad_norm = 0.0, 0, 0.0
            group_tokens = max(1, sum(len(train_ex[i].input_ids) - train_ex[i].rule_start
                                      for m in batches[b:b + tp.grad_accum] for i in m))
            for micro in batches[b:b + tp.grad_accum]:
                batch = collate([train_ex[i] for i in micro], pad_id)
                batch = {k: v.to(device) for k, v in batch.items()}
                with accelerator.accumulate(loss_model):
                    with precision.autocast():  # backward runs outside autocast, as recommended
                        loss_sum, count = loss_model(**batch)
                    accelerator.backward(loss_sum / group_tokens)  # token-weighted mean over the group
                    step_loss += float(loss_sum.detach())
                    step_count += int(count)
                    n_tok = int(batch["attention_mask"].sum())
                    tokens += n_tok
                    window_tokens += n_tok
                    if accelerator.sync_gradients:
                        grad_norm = float(accelerator.clip_grad_norm_(loss_model.parameters(), tp.max_grad_norm))
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
            b += tp.grad_accum
            last_loss = step_loss / max(step_count, 1)
            if not math.isfinite(last_loss) or not math.isfinite(grad_norm):
                raise NonFiniteLoss(
                    f"non-finite loss ({last_loss}) or grad norm ({grad_norm}) at step {step + 1}; "
                    f"the last good checkpoint in {ckpt} is kept. Lower the learning rate "
                    f"(strategies.*.learning_rate) or train in fp32 (training.precision)."
                )
            step += 1
            now = time.perf_counter()
            metrics = {"loss": last_loss, "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm,
                       "tokens_per_s": window_tokens / max(now - window_t, 1e-9), "epoch": epoch,
                       "peak_memory_mb": peak_memory_mb(device)}
            window_t, window_tokens = now, 0
            history.append({"step": step, **metrics})
            if log_fn and accelerator.is_main_process:
                log_fn(metrics, step)
            if tp.checkpoint_every and step % tp.checkpoint_every == 0:
                checkpoint(epoch, b)
        if val_ex:
            val = evaluate_loss(loss_model, val_ex, tp.batch_size, pad_id, device, precision)
            val_losses.append(val)
            if log_fn and accelerator.is_main_process:
                log_fn({"val_loss": val}, step)
            best_val, bad_epochs = (val, 0) if val < best_val else (best_val, bad_epochs + 1)
        if tp.early_stopping_patience and bad_epochs >= tp.early_stopping_patience:
            stopped_early = True
            break
        if step >= total_steps:
            break
        checkpoint(epoch + 1, 0)  # only when more training follows; the caller saves the final model
    seconds = time.perf_counter() - t0
    return TrainResult(
        steps=step, epochs_run=epoch + 1, final_loss=last_loss, val_losses=val_losses, tokens=tokens_before + tokens,
        tokens_per_s=tokens / max(seconds, 1e-9), seconds=seconds, peak_memory_mb=peak_memory_mb(device),
        resumed_from_step=progress["step"] if progress else None, stopped_early=stopped_early,
        history=history, skipped_too_long=skipped,
    )


def save_final(model: nn.Module, tokenizer, out_dir: str | Path, info: dict[str, Any],
               state_dict: dict[str, torch.Tensor] | None = None) -> None:
    """Final weights (FFT) or adapter (PEFT) + tokenizer + ``run.json``, atomically.

    ``state_dict``: the full state gathered by ``accelerator.get_state_dict`` when the model is
    sharded (FSDP); the unwrapped module alone would only hold this process's shard.
    """
    with atomic_dir(out_dir) as tmp:
        if state_dict is None:
            model.save_pretrained(tmp, safe_serialization=True)
        else:
            model.save_pretrained(tmp, safe_serialization=True, state_dict=state_dict)
        tokenizer.save_pretrained(tmp)
        (tmp / RUN_INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")


def clear_checkpoint(path: str | Path) -> None:
    """Remove a finished model's checkpoint, and any half-written one a kill left beside it."""
    path = Path(path)
    shutil.rmtree(path, ignore_errors=True)
    for stale in path.parent.glob(f".{path.name}.*"):
        shutil.rmtree(stale, ignore_errors=True)
