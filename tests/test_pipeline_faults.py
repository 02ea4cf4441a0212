"""Faults and determinism on the tiny pipeline, one LoRA model (tiny profile + a narrowing profile).

Two copies of the project run the same params and seed: the first is killed (SIGKILL to the whole
`dvc repro` process group) right after its first training checkpoint and started again; the second
runs uninterrupted. Their metrics and attribution tables must be identical. A different seed must
change them; a dead tracking server must stop `finetune` before it trains, losing nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pipeline_helpers import base_env, free_port, new_project, run, warm_interpreter

from ccattr.io import read_jsonl, sha256_file
from ccattr.precision import FP32

NAME = "lora-tiny-a"
NARROW = {"run": {"strategies": ["lora"], "scales": ["tiny-a"]},
          # 40 short steps, a checkpoint every 2: the kill lands mid-training, not after it.
          "training": {"max_steps": 40, "checkpoint_every": 2}}
pytestmark = pytest.mark.e2e


def _project(root: Path, env: dict) -> None:
    narrow = root.parent / f"{root.name}-narrow.yaml"
    narrow.write_text(yaml.safe_dump(NARROW))
    new_project(root, env, "profiles/tiny.yaml", str(narrow))


def _outputs(root: Path) -> dict:
    evals = json.loads((root / f"results/eval/{NAME}/metrics.json").read_text())
    evals.pop("run_id")  # lineage, not a result
    return {"train": json.loads((root / f"results/train/{NAME}/metrics.json").read_text()), "eval": evals,
            "predictions": read_jsonl(root / f"results/eval/{NAME}/predictions.jsonl"),
            "units": pd.read_parquet(root / f"results/attributions/{NAME}.parquet"),
            "clauses": pd.read_parquet(root / f"results/attributions/{NAME}.clauses.parquet")}


def _assert_same(a: dict, b: dict) -> None:
    assert a["train"] == b["train"] and a["eval"] == b["eval"] and a["predictions"] == b["predictions"]
    pd.testing.assert_frame_equal(a["units"], b["units"], check_exact=True)
    pd.testing.assert_frame_equal(a["clauses"], b["clauses"], check_exact=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(killed-then-resumed project (plain `python` stages), uninterrupted project (stages from a
    warm interpreter), env, what the kill left behind)."""
    tmp = tmp_path_factory.mktemp("faults")
    env = base_env()
    killed, clean = tmp / "killed", tmp / "clean"
    _project(killed, env)
    _project(clean, env)

    proc = subprocess.Popen(["dvc", "repro"], cwd=killed, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    progress = None
    while time.monotonic() < deadline and proc.poll() is None:
        # A renamed-into-place checkpoint, not the hidden temporary one being written.
        found = [p for p in (killed / "checkpoints" / NAME).glob("*/progress.json")
                 if not p.parent.name.startswith(".")]
        if found:
            progress = json.loads(found[0].read_text())
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    left = {"progress": progress, "finished": (killed / f"models/finetuned/{NAME}/run.json").exists()}
    resumed = run(["dvc", "repro"], killed, env)
    # The uninterrupted copy's stages, and every later run's, fork from a warm interpreter (as
    # under `make repro`): the comparison also holds the two launch paths to the same results.
    with warm_interpreter(env) as warm:
        uninterrupted = run(["dvc", "repro"], clean, warm)
        for out, how in ((resumed, "plain python"), (uninterrupted, "forked from the warm interpreter")):
            assert f"to first work ({how})" in out.stdout + out.stderr, how
        yield killed, clean, warm, left, resumed


def test_killed_repro_resumes_from_its_checkpoint(runs):
    killed, _, env, left, resumed = runs
    assert left["progress"] is not None and not left["finished"], "the kill must land during training"
    assert f"'finetune@{NAME}'" in resumed.stdout
    info = json.loads((killed / f"models/finetuned/{NAME}/run.json").read_text())
    assert info["resumed_from_step"] >= 2 and info["steps"] == 40
    assert not list((killed / "checkpoints" / NAME).iterdir())  # cleared once done, temporaries too
    # The same MLflow run carried on, and holds every step's loss.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{killed}/mlflow.db")
    run_info = client.get_run(info["run_id"])
    assert run_info.info.status == "FINISHED"
    assert {m.step for m in client.get_metric_history(info["run_id"], "loss")} == set(range(1, 41))
    assert "up to date" in run(["dvc", "status"], killed, env).stdout


def test_same_seed_gives_identical_results_even_across_a_kill(runs):
    killed, clean, _, _, _ = runs
    _assert_same(_outputs(killed), _outputs(clean))
    # Bit-identical weights: DVC records the same content hash for both models.
    assert sha256_file(killed / f"models/finetuned/{NAME}/adapter_model.safetensors") == \
        sha256_file(clean / f"models/finetuned/{NAME}/adapter_model.safetensors")


def test_dead_tracking_server_stops_finetune_before_training_and_loses_nothing(runs):
    killed, _, env, _, _ = runs
    weights = killed / f"models/finetuned/{NAME}/adapter_model.safetensors"
    metrics = killed / f"results/train/{NAME}/metrics.json"
    before = (sha256_file(weights), metrics.read_text())
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = subprocess.run(["dvc", "repro", "-f", "-s", f"finetune@{NAME}"], cwd=killed,
                          env={**env, "MLFLOW_TRACKING_URI": uri}, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and uri in proc.stdout + proc.stderr
    assert "unreachable" in proc.stdout + proc.stderr
    assert not (killed / "checkpoints" / NAME).exists() or not list((killed / "checkpoints" / NAME).iterdir())
    # DVC cleared the stage's outputs before running it; the next `dvc repro` restores them from
    # its run-cache without training again, byte for byte.
    again = run(["dvc", "repro"], killed, env)
    assert f"Running stage 'finetune@{NAME}'" not in again.stdout
    assert (sha256_file(weights), metrics.read_text()) == before
    assert "up to date" in run(["dvc", "status"], killed, env).stdout


def test_a_different_seed_changes_the_results(runs):
    _, clean, env, _, _ = runs
    before = _outputs(clean)
    params = yaml.safe_load((clean / "params.yaml").read_text())
    params["seed"] = params["seed"] + 1
    (clean / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro", f"attribute@{NAME}"], clean, env)
    after = _outputs(clean)
    assert after["train"]["final_loss"] != before["train"]["final_loss"]
    assert not after["units"]["raw_score"].equals(before["units"]["raw_score"])


def test_finetune_runs_data_parallel_on_two_processes(runs):
    """The multi-GPU code path on CPU: two processes (torchrun + gloo via accelerate), each taking
    every second batch; only the main process talks to MLflow and writes the model."""
    import torch
    from mlflow.tracking import MlflowClient

    from ccattr.config import load_params
    from ccattr.models import load_finetuned

    killed, _, env, _, _ = runs
    client = MlflowClient(tracking_uri=f"sqlite:///{killed}/mlflow.db")
    exp_id = client.get_experiment_by_name("ccattr").experiment_id
    before = {r.info.run_id for r in client.search_runs([exp_id])}
    out = run(["torchrun", "--standalone", "--nproc_per_node", "2", "stages/finetune.py", "lora", "tiny-a"],
              killed, {**env, "ACCELERATE_USE_CPU": "true"})
    assert out.stdout.count(f"{NAME}: 40 steps") == 1  # one report: the main process's
    (new,) = [r for r in client.search_runs([exp_id]) if r.info.run_id not in before]
    assert new.data.params["num_processes"] == "2" and new.info.status == "FINISHED"
    assert len(client.get_metric_history(new.info.run_id, "loss")) == 40
    info = json.loads((killed / f"models/finetuned/{NAME}/run.json").read_text())
    assert info["run_id"] == new.info.run_id
    params = load_params(killed / "params.yaml")
    model, _ = load_finetuned("lora", params.strategies["lora"], killed / "models/base/tiny-a",
                              killed / f"models/finetuned/{NAME}", FP32, torch.device("cpu"))
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in model.named_parameters())  # trained
