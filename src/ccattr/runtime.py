"""What every stage does first: logging, threads, seeds; and the pipeline's stable paths."""

from __future__ import annotations

import logging
import os
import random
import warnings
from pathlib import Path

import numpy as np

from ccattr.config import Params, load_params

BASE_DIR = Path("models/base")
FINETUNED_DIR = Path("models/finetuned")
CHECKPOINT_DIR = Path("checkpoints")
TRAIN_DIR = Path("results/train")
EVAL_DIR = Path("results/eval")
ATTR_DIR = Path("results/attributions")
COMPARE_DIR = Path("results/compare")
VALIDATED_DIR = Path("data/validated")
REPORT_DIR = Path("reports")
CACHE_DIR = Path(".cache")


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def init_stage(name: str) -> Params:
    """Validate params (fail before any work), quiet noisy libraries, seed everything."""
    params = load_params()
    logging.basicConfig(level=logging.INFO, format=f"[{name}] %(levelname)s %(name)s: %(message)s")
    for noisy in ("transformers", "httpx", "urllib3", "filelock", "sentence_transformers", "alembic",
                  "mlflow", "bitsandbytes", "accelerate", "peft"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    if params.training.num_threads:
        torch.set_num_threads(params.training.num_threads)
    seed_everything(params.seed)
    return params
