"""MLflow wiring: one run per (strategy, scale) model, one comparison run, lineage tags.

The store is a local SQLite file plus an artifact folder by default (``params.tracking``);
``MLFLOW_TRACKING_URI`` in the environment points every stage at a team server instead, with
no code change. An HTTP store is checked before any work starts, so a dead server fails fast.

    >>> exp_id = setup(params.tracking)                                   # doctest: +SKIP
    >>> with start_run("lora-smollm2-l8", stage="finetune", tags={...}) as run:  # doctest: +SKIP
    ...     mlflow.log_metric("loss", 1.23, step=1)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from ccattr.config import TrackingParams

log = logging.getLogger(__name__)

# Environment variables whose values must never reach params, tags or reports.
SECRET_ENV = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL)", re.IGNORECASE)
PACKAGES = ("torch", "transformers", "peft", "bitsandbytes", "accelerate", "mlflow", "dvc", "captum")


class TrackingUnavailable(RuntimeError):
    """The tracking server named by the URI does not answer."""


def tracking_uri(tp: TrackingParams) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or tp.uri


def redact_uri(uri: str) -> str:
    """``http://user:pw@host`` -> ``http://***@host`` for messages and tags."""
    return re.sub(r"://[^/@]+@", "://***@", uri)


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, naming the URI, when an HTTP tracking server does not answer its health check."""
    if not uri.startswith(("http://", "https://")):
        return
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (http(s) only)
            if resp.status >= 500:
                raise TrackingUnavailable(f"MLflow tracking server {redact_uri(uri)} answered HTTP {resp.status}")
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise TrackingUnavailable(
            f"MLflow tracking server {redact_uri(uri)} is unreachable ({err}); start it or unset "
            f"MLFLOW_TRACKING_URI to use the local store"
        ) from None


#: The experiment tag MLflow's UI reads to choose its layout (``genai_development`` or ``custom_model_development``).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"


def setup(tp: TrackingParams) -> str:
    """Point MLflow at the store, make sure the experiment exists, return its id."""
    import mlflow

    uri = tracking_uri(tp)
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    exp = mlflow.get_experiment_by_name(tp.experiment)
    if exp is not None:
        exp_id = exp.experiment_id
        if EXPERIMENT_KIND_TAG not in exp.tags:  # made by an older ccattr, or by hand
            mlflow.tracking.MlflowClient().set_experiment_tag(exp_id, EXPERIMENT_KIND_TAG, "custom_model_development")
    else:
        location = None
        if not uri.startswith(("http://", "https://")):
            location = Path(tp.artifact_location).resolve().as_uri()
        # MLflow 3 asks each experiment's kind (GenAI or model training) and shows it; this one
        # holds training runs. (Which page the UI opens also depends on its mode: `make ui`
        # prints the URL with ?workflowType=machine_learning, which lands on the runs table.)
        exp_id = mlflow.create_experiment(tp.experiment, artifact_location=location,
                                          tags={EXPERIMENT_KIND_TAG: "custom_model_development"})
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def git_state() -> dict[str, str]:
    """Commit and dirty flag of the working tree (``unknown`` outside git)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        return {"git_commit": commit, "git_dirty": str(bool(dirty)).lower()}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def lineage_tags(stage: str, extra: Mapping[str, Any] | None = None) -> dict[str, str]:
    tags = {"dvc_stage": stage, **git_state(), **{f"version.{k}": v for k, v in versions().items()}}
    tags.update({k: str(v) for k, v in (extra or {}).items()})
    return scrub(tags)


def scrub(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop any value equal to (or containing) a secret held in the environment."""
    secrets = [v for k, v in os.environ.items() if SECRET_ENV.search(k) and len(v) >= 6]
    clean = {}
    for k, v in values.items():
        s = str(v)
        clean[k] = "***" if any(sec in s for sec in secrets) else v
    return clean


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` for ``mlflow.log_params``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


@contextmanager
def start_run(run_name: str | None = None, run_id: str | None = None, stage: str = "",
              tags: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """Start (or, given ``run_id``, resume) a run tagged with lineage; end it as FINISHED or FAILED."""
    import mlflow

    run = mlflow.start_run(run_id=run_id, run_name=None if run_id else run_name)
    try:
        mlflow.set_tags({**lineage_tags(stage, tags), f"stage.{stage}": "started"})
        yield run
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    mlflow.set_tag(f"stage.{stage}", "done")
    mlflow.end_run(status="FINISHED")


def log_params(params: Mapping[str, Any]) -> None:
    import mlflow

    flat = scrub(flatten(params))
    items = list(flat.items())
    for i in range(0, len(items), 90):  # MLflow caps a batch at 100 params
        mlflow.log_params(dict(items[i:i + 90]))


def run_url(ui_url: str | None, experiment_id: str, run_id: str) -> str | None:
    if not ui_url:
        return None
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def dvc_deps_hash(stage: str, lock_path: str | Path = "dvc.lock") -> str | None:
    """sha256 of one stage's dependencies and params as recorded in ``dvc.lock`` (None if absent).

    DVC writes a stage's lock entry when the stage finishes, so a stage tags the runs of the
    stages upstream of it: ``compare`` tags every model run with its finetune/evaluate/attribute
    hashes, ``report`` tags the comparison run with compare's. Equal hashes = same inputs.
    """
    import yaml

    path = Path(lock_path)
    if not path.exists():
        return None
    entry = (yaml.safe_load(path.read_text()) or {}).get("stages", {}).get(stage)
    if entry is None:
        return None
    deps = sorted((d["path"], d.get("md5") or d.get("hash") or "") for d in entry.get("deps", []))
    canon = json.dumps({"deps": deps, "params": entry.get("params", {})}, sort_keys=True, default=str)
    return hashlib.sha256(canon.encode()).hexdigest()


def tag_dvc_lineage(run_id: str, stages: list[str], lock_path: str | Path = "dvc.lock") -> dict[str, str]:
    """Tag ``run_id`` with ``dvc.deps_hash.<stage>`` for each stage found in ``dvc.lock``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    tags = {f"dvc.deps_hash.{s.split('@')[0]}": d for s in stages if (d := dvc_deps_hash(s, lock_path))}
    for key, digest in tags.items():
        client.set_tag(run_id, key, digest)
    return tags


def log_dataset(rows: list[dict], name: str, source: str | Path, digest: str) -> None:
    """Log a corpus split as an MLflow dataset input (name, source path, content digest)."""
    import mlflow
    import pandas as pd

    ds = mlflow.data.from_pandas(pd.DataFrame(rows), source=str(source), name=name, digest=digest[:36])
    mlflow.log_input(ds, context="training")
