"""Planning before hours are spent: how large is each model of the run matrix, how much memory
does each stage need, which models fit one device and which launcher they need.

The estimates are the standard accounting, per device, in bytes:

* weights: 4 per parameter in fp32 (also the master weights of ``bf16-mixed``), 2 in ``bf16``
  (what ``auto`` means on a GPU; on the CPU it means ``bf16-mixed``);
  QLoRA stores its linear layers in 4-bit NF4 (0.5 byte, plus about 1/64 for the double-quantized
  block scales) and the rest in the compute dtype;
* gradients: one per *trainable* parameter (all of them for FFT; adapters, plus the
  ``trainable_extra`` modules for the hybrid), in the weights' dtype;
* AdamW: two states per trainable parameter, in the weights' dtype;
* activations kept for the backward pass (Korthikanti et al. 2022, per decoder layer):
  ``s b h (34 + 5 a s / h)`` bytes at 2-byte activations, doubled for fp32; with gradient
  checkpointing ``2 s b h`` per layer plus one layer's full set;
* the LM head's logits on the rule tokens (ccattr's loss computes no others, about half of the
  sequence): ``b (s / 2) V`` fp32 values, twice (logits and their gradient);
* generation: the weights plus the KV cache, ``2 L b s kv h_head`` values;
* attribution: the weights plus one batch of perturbed prompts' forward activations and logits.

A PEFT model that does not fit one device does not fit under DDP either (DDP replicates it);
FSDP shards weights, gradients and optimizer states over the devices. These are estimates:
allocator overhead, temporary buffers and fragmentation add 10-30% on GPUs;
``benchmarks/cpu_stack.py`` checks them against measured peak memory for the CPU-sized models.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccattr.runtime import FINETUNED_DIR, RUN_INFO_FILE

__all__ = ["KNOWN_ARCHITECTURES", "Architecture", "architecture", "attach_measured", "memory_plan", "parse_size"]


@dataclass(frozen=True)
class Architecture:
    """The dimensions of a decoder-only transformer that its size and memory follow from."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool = True
    qkv_bias: bool = False
    source: str = ""

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def linear_shapes(self) -> list[tuple[int, int]]:
        """(in, out) of each linear layer of one decoder block (attention, then the gated MLP)."""
        h, kv = self.hidden, self.kv_heads * self.head_dim
        return [(h, h), (h, kv), (h, kv), (h, h), (h, self.intermediate), (h, self.intermediate),
                (self.intermediate, h)]

    def params(self) -> dict[str, int]:
        """Parameter counts: ``linear`` (decoder-block matrices), ``embedding``, ``other``, ``total``."""
        linear = self.layers * sum(i * o for i, o in self.linear_shapes())
        bias = self.layers * (self.hidden + 2 * self.kv_heads * self.head_dim) if self.qkv_bias else 0
        norms = self.layers * 2 * self.hidden + self.hidden
        embedding = self.vocab * self.hidden * (1 if self.tied else 2)
        return {"linear": linear, "embedding": embedding, "other": bias + norms,
                "total": linear + embedding + bias + norms}

    def lora_params(self, r: int) -> int:
        """Adapter parameters of LoRA rank ``r`` on every linear layer of every block."""
        return self.layers * sum(r * (i + o) for i, o in self.linear_shapes())


def _arch(h, i, n, a, kv, v, tied, bias=False) -> Architecture:
    return Architecture(h, i, n, a, kv, v, tied, bias, "published config")


#: The public configurations of the hub ladders in profiles/ (used when no config is at hand
#: offline): hidden, intermediate, layers, heads, KV heads, vocabulary, tied embeddings.
KNOWN_ARCHITECTURES: dict[str, Architecture] = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": _arch(576, 1536, 30, 9, 3, 49152, True),
    "HuggingFaceTB/SmolLM2-360M-Instruct": _arch(960, 2560, 32, 15, 5, 49152, True),
    "HuggingFaceTB/SmolLM2-1.7B-Instruct": _arch(2048, 8192, 24, 32, 32, 49152, True),
    "Qwen/Qwen2.5-0.5B-Instruct": _arch(896, 4864, 24, 14, 2, 151936, True, True),
    "Qwen/Qwen2.5-1.5B-Instruct": _arch(1536, 8960, 28, 12, 2, 151936, True, True),
    "Qwen/Qwen2.5-3B-Instruct": _arch(2048, 11008, 36, 16, 2, 151936, True, True),
    "Qwen/Qwen2.5-7B-Instruct": _arch(3584, 18944, 28, 28, 4, 152064, False, True),
    "Qwen/Qwen2.5-14B-Instruct": _arch(5120, 13824, 48, 40, 8, 152064, False, True),
}


def _from_config(cfg: dict[str, Any], source: str) -> Architecture:
    text = cfg.get("text_config") or cfg
    heads = text["num_attention_heads"]
    return Architecture(
        hidden=text["hidden_size"], intermediate=text["intermediate_size"], layers=text["num_hidden_layers"],
        heads=heads, kv_heads=text.get("num_key_value_heads") or heads, vocab=text["vocab_size"],
        tied=bool(cfg.get("tie_word_embeddings", text.get("tie_word_embeddings", True))),
        qkv_bias=bool(text.get("attention_bias", cfg.get("model_type") == "qwen2")), source=source)


def _from_gguf(path: Path) -> Architecture:
    import gguf

    reader = gguf.GGUFReader(path)

    def field(key: str):
        f = reader.fields.get(key)
        if f is None:
            return None
        value = f.parts[f.data[0]]
        return bytes(value).decode() if f.types and f.types[0] == gguf.GGUFValueType.STRING else value[0]

    arch = field("general.architecture")
    vocab = field(f"{arch}.vocab_size")
    if vocab is None:
        tokens = reader.fields.get("tokenizer.ggml.tokens")
        vocab = len(tokens.data) if tokens is not None else 0
    tied = not any(t.name == "output.weight" for t in reader.tensors)
    return Architecture(int(field(f"{arch}.embedding_length")), int(field(f"{arch}.feed_forward_length")),
                        int(field(f"{arch}.block_count")), int(field(f"{arch}.attention.head_count")),
                        int(field(f"{arch}.attention.head_count_kv") or field(f"{arch}.attention.head_count")),
                        int(vocab), tied, False, f"GGUF metadata of {path.name}")


def parse_size(text: str) -> float | None:
    """``"Qwen2.5-14B-Instruct"`` -> 14e9; ``"80G"`` -> 80e9 (bytes); None when nothing parses."""
    m = re.search(r"(\d+(?:\.\d+)?)\s*([KMGBT])(?:i?B)?\b", text, re.IGNORECASE)
    if not m:
        return None
    unit = {"K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9, "T": 1e12}[m.group(2).upper()]
    return float(m.group(1)) * unit


def architecture(scale: str, sp, base_dir: str | Path = "models/base") -> Architecture:
    """The dimensions of a scale, from what is at hand offline: the prepared model's config, the
    packaged GGUF's metadata, the Hugging Face cache, or :data:`KNOWN_ARCHITECTURES`; then
    ``keep_layers`` applied."""
    prepared = Path(base_dir) / scale / "config.json"
    arch: Architecture | None = None
    if prepared.exists():
        arch = _from_config(json.loads(prepared.read_text()), f"{prepared}")
    elif sp.source == "tiny":
        t = dict(sp.tiny)
        arch = Architecture(t.get("hidden_size", 64), t.get("intermediate_size", 128), t.get("num_hidden_layers", 2),
                            t.get("num_attention_heads", 4), t.get("num_key_value_heads", 2), 49152, True,
                            False, "tiny config")
    elif sp.source == "packaged_gguf":
        from ccattr.models import package_dir

        folder = Path(".cache/gguf/assembled") if sp.assemble else package_dir(sp.package)
        if (folder / sp.gguf_file).exists():
            arch = _from_gguf(folder / sp.gguf_file)
    elif sp.source == "local" and (Path(sp.path) / "config.json").exists():
        arch = _from_config(json.loads((Path(sp.path) / "config.json").read_text()), sp.path)
    elif sp.source == "hub":
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(sp.id, "config.json", revision=sp.revision)
        except Exception:  # noqa: BLE001 (no cache is an ordinary answer)
            cached = None
        if isinstance(cached, str):
            arch = _from_config(json.loads(Path(cached).read_text()), "Hugging Face cache")
        elif sp.id in KNOWN_ARCHITECTURES:
            arch = KNOWN_ARCHITECTURES[sp.id]
    if arch is None:
        raise ValueError(f"scale {scale!r}: its size is not known offline; run `dvc repro prepare_model@{scale}` "
                         f"(or put its config in the Hugging Face cache) first")
    if sp.keep_layers and not prepared.exists():
        arch = Architecture(**{**arch.__dict__, "layers": sp.keep_layers,
                               "source": arch.source + f", {sp.keep_layers} layers kept"})
    return arch


def _gb(b: float) -> float:
    return round(b / 1e9, 2)


def memory_plan(params, device_bytes: float | None = None, rule_fraction: float = 0.5) -> list[dict[str, Any]]:
    """One row per (strategy, scale) of the run matrix: parameters, estimated peak memory (GB)
    of training, generation and attribution, and whether / how it fits a device of
    ``device_bytes``. See the module docstring for the accounting."""
    tp, gp, ap = params.training, params.generation, params.attribution
    rows = []
    for scale in params.run.scales:
        arch = architecture(scale, params.scales[scale])
        p = arch.params()
        n = p["total"]
        for strategy in params.run.strategies:
            sp = params.strategies[strategy]
            precision = tp.precision if tp.precision != "auto" else ("bf16" if device_bytes else "bf16-mixed")
            wbytes = 2 if precision == "bf16" else 4  # bf16 weights train in bf16: grads and states too
            act_bytes = 1.0 if precision in ("bf16", "bf16-mixed") else 2.0  # x the 2-byte formula
            # NF4 linear layers (0.5 byte + double-quantized block scales), the rest in bf16
            weights = p["linear"] * (0.5 + 1 / 64) + (n - p["linear"]) * 2 if sp.quantization else n * wbytes
            trainable = n if strategy == "fft" else arch.lora_params(sp.lora.r)
            if strategy == "hybrid":
                trainable += p["other"]
            grads, optim = wbytes * trainable, 2 * wbytes * trainable
            b, s, h = tp.batch_size, tp.max_seq_len, arch.hidden
            per_layer = s * b * h * (34 + 5 * arch.heads * s / h) * act_bytes
            acts = (arch.layers * 2 * s * b * h * act_bytes + per_layer) if tp.gradient_checkpointing \
                else arch.layers * per_layer
            logits = 2 * b * s * rule_fraction * arch.vocab * 4
            train = weights + grads + optim + acts + logits
            kv = 2 * arch.layers * gp.batch_size * (s + gp.max_new_tokens) * arch.kv_heads * arch.head_dim * 2
            generate = weights + kv + gp.batch_size * arch.vocab * 4
            attribute = weights + ap.batch_size * s * h * 16 * act_bytes + ap.batch_size * s * arch.vocab * 4 \
                * rule_fraction
            row = {"model": f"{strategy}-{scale}", "strategy": strategy, "scale": scale,
                   "params": n, "params_h": f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.0f}M",
                   "trainable": trainable, "weights_gb": _gb(weights),
                   "grads_optimizer_gb": _gb(grads + optim), "activations_gb": _gb(acts + logits),
                   "train_gb": _gb(train), "generate_gb": _gb(generate), "attribute_gb": _gb(attribute),
                   "size_from": arch.source}
            if device_bytes:
                peak = max(train, generate, attribute)
                fits = peak <= device_bytes
                states, rest = weights + grads + optim, acts + logits  # FSDP shards the states only
                if fits:
                    launcher = "one device (DDP over several for speed)"
                elif rest < device_bytes:
                    k = math.ceil(states / (device_bytes - rest))
                    launcher = f"FSDP over >= {k} devices (configs/accelerate/fsdp.yaml)"
                else:
                    launcher = "does not fit: lower batch_size or max_seq_len, or turn on gradient_checkpointing"
                row.update(fits_one_device=fits, launcher=launcher)
            rows.append(row)
    return rows


def attach_measured(rows: list[dict[str, Any]], finetuned_dir: Path = FINETUNED_DIR) -> list[dict[str, Any]]:
    """Add ``measured_train_gb``: the peak memory the finetune stage recorded for that model
    (``models/finetuned/<model>/run.json``; on a CPU the process's peak RSS, which also holds the
    Python libraries and, for QLoRA, the fp32 model before quantization), where it ran."""
    for row in rows:
        f = finetuned_dir / row["model"] / RUN_INFO_FILE
        try:
            mb = json.loads(f.read_text(encoding="utf-8"))["peak_memory_mb"]
        except (OSError, KeyError, ValueError):
            continue
        row["measured_train_gb"] = round(mb * 2**20 / 1e9, 2)
    return rows
