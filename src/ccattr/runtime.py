"""What every stage does first: logging, threads, seeds; and the pipeline's stable paths."""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ccattr.config import Params, ParamsError, load_params

# The stage outputs dvc.yaml names, as the stages read and write them (keep the two in step).
#: Written by the check_params stage; the first stages depend on it so that it runs before them.
PARAMS_CHECK = Path("results/params/check.json")
#: Where corpus files may live: the folders the validate_corpus stage depends on in dvc.yaml
#: (data/corpus: the project's own corpus, in git; data/external: imported corpora, git-ignored).
CORPUS_DIRS = (Path("data/corpus"), Path("data/external"))
#: validate_corpus: the split corpus, its summary (a DVC metric) and its Data Docs.
VALIDATED_DIR = Path("data/validated")
VALIDATED_TRAIN = VALIDATED_DIR / "train.jsonl"
VALIDATED_TEST = VALIDATED_DIR / "test.jsonl"
VALIDATION_SUMMARY = Path("results/validation/summary.json")
REPORT_DIR = Path("reports")
VALIDATION_DOCS = REPORT_DIR / "validation"
#: A failed validation's Data Docs: outside the stage's outputs, which DVC clears before a run.
VALIDATION_FAILED_DOCS = REPORT_DIR / "validation-failed"
#: prepare_model: ``<scale>/`` with ``model_info.json``; finetune: ``<model>/`` with ``run.json``.
BASE_DIR = Path("models/base")
FINETUNED_DIR = Path("models/finetuned")
MODEL_INFO_FILE = "model_info.json"
RUN_INFO_FILE = "run.json"
#: finetune (``<model>/metrics.json``) and evaluate (``<model>/{predictions.jsonl,metrics.json}``).
TRAIN_DIR = Path("results/train")
EVAL_DIR = Path("results/eval")
PREDICTIONS_FILE = "predictions.jsonl"
METRICS_FILE = "metrics.json"
#: attribute: ``<model><suffix>`` for each of ``ccattr.tables.TABLE_SUFFIXES``.
ATTR_DIR = Path("results/attributions")
#: check_methods: ``<model><suffix>`` for each of ``ccattr.tables.CHECK_SUFFIXES``.
METHOD_CHECK_DIR = Path("results/method_check")
#: compare: tables/, plots/, the summary (a DVC metric) and the comparison's MLflow run.
COMPARE_DIR = Path("results/compare")
COMPARE_SUMMARY = COMPARE_DIR / "summary.json"
COMPARE_RUN = COMPARE_DIR / "run.json"
# Outside DVC's outputs.
CHECKPOINT_DIR = Path("checkpoints")
CACHE_DIR = Path(".cache")


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def init_stage(name: str) -> Params:
    """Validate params (fail before any work), quiet noisy libraries, seed everything."""
    try:
        params = load_params()
    except ParamsError as err:  # the message names the key and the allowed values: no traceback
        sys.exit(f"{name}: {err}")
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


#: Set by ``benchmarks/cpu_stack.py``: a stage exits at :func:`first_work`, so that its start-up
#: (interpreter, imports, model load, MLflow) is timed without the work.
STOP_AT_FIRST_WORK = "CCATTR_STOP_AT_FIRST_WORK"


def _process_start() -> float:
    """When this process started (epoch seconds): psutil's reading, which counts the
    interpreter's own start-up and every import before this module."""
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # noqa: BLE001 (a reading we can live without)
        return _IMPORTED


_IMPORTED = time.time()


def first_work(stage: str) -> float:
    """Mark where ``stage``'s real work begins; log (and return) the start-up time so far. With
    ``CCATTR_STOP_AT_FIRST_WORK=1`` in the environment the process prints it as JSON and exits."""
    elapsed = time.time() - _process_start()
    zygote = sys.modules.get("ccattr.zygote")
    how = "forked from the warm interpreter" if getattr(zygote, "FORKED", False) else "plain python"
    logging.getLogger("ccattr.runtime").info("start-up: %.1f s to first work (%s)", elapsed, how)
    if os.environ.get(STOP_AT_FIRST_WORK):
        print(json.dumps({"stage": stage, "startup_s": round(elapsed, 3)}), file=sys.stderr, flush=True)
        os._exit(0)  # skip atexit hooks: nothing was produced, nothing needs flushing
    return elapsed
