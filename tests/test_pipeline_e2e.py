"""End to end: copy the project into a temporary git repo, apply the tiny profile (random-weight
Llama with the real SmolLM2 tokenizer, fft/lora/qlora x two scales, ~24 clauses), run the real
`dvc repro`, then check every output, the MLflow runs, and that a second `dvc repro` is a no-op."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.e2e


def run(cmd: list[str], cwd: Path, env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def copy_project(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for f in files:
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e") / "ccattr"
    root.mkdir()
    copy_project(root)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("MLFLOW_TRACKING_URI", None)
    run([sys.executable, "-m", "ccattr.cli", "profile", "apply", "profiles/tiny.yaml"], root, env)
    run(["git", "init", "-q"], root, env)
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "tiny"], root, env)
    first = run(["dvc", "repro"], root, env)
    return root, env, first


def test_every_stage_writes_its_outputs(project):
    root, _, first = project
    names = [f"{s}-{c}" for s in ("fft", "lora", "qlora") for c in ("tiny-a", "tiny-b")]
    for stage in ("validate_corpus", "prepare_model@tiny-a", "finetune@qlora-tiny-b", "evaluate@fft-tiny-a",
                  "attribute@lora-tiny-b", "compare", "report"):
        assert f"'{stage}'" in first.stdout, stage
    train = (root / "data/validated/train.jsonl").read_text().splitlines()
    test = (root / "data/validated/test.jsonl").read_text().splitlines()
    assert len(train) == 16 and len(test) == 8
    for scale in ("tiny-a", "tiny-b"):
        assert (root / f"models/base/{scale}/model.safetensors").exists()
    for name in names:
        ft = root / "models/finetuned" / name
        assert (ft / ("model.safetensors" if name.startswith("fft") else "adapter_model.safetensors")).exists()
        metrics = json.loads((root / f"results/eval/{name}/metrics.json").read_text())
        assert metrics["n"] == 8 and 0 <= metrics["edit_distance"] <= 1
        long_df = pd.read_parquet(root / f"results/attributions/{name}.parquet")
        clauses = pd.read_parquet(root / f"results/attributions/{name}.clauses.parquet")
        assert clauses["clause_id"].nunique() == 4 == long_df["clause_id"].nunique()
        assert {"clause_id", "unit_index", "text", "category", "start", "end", "raw_score", "norm_score"} <= set(long_df)
        assert long_df.groupby("clause_id")["norm_score"].sum().round(6).eq(1).all()
    summary = json.loads((root / "results/compare/summary.json").read_text())
    assert summary and (root / "results/compare/tables/similarity.csv").exists()
    html = (root / "reports/index.html").read_text()
    assert "Findings" in html and len(list((root / "reports/figures").glob("*.png"))) >= 3
    assert (root / "reports/validation/index.html").exists()


def test_mlflow_holds_one_run_per_model_and_a_comparison_run(project):
    import mlflow
    from mlflow.tracking import MlflowClient

    root, _, _ = project
    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlflow.db")
    exp = client.get_experiment_by_name("ccattr")
    runs = client.search_runs([exp.experiment_id])
    models = {r.data.tags.get("model_name"): r for r in runs if r.data.tags.get("model_name")}
    assert len(models) == 6 and len(runs) == 7
    for name, r in models.items():
        assert r.info.status == "FINISHED"
        assert {"loss", "final_loss", "eval_similarity", "attr_mean_entropy"} <= set(r.data.metrics), name
        assert len(client.get_metric_history(r.info.run_id, "loss")) == 3  # per-step loss
        assert r.data.params["strategy"] == name.split("-")[0]
        arts = [a.path for a in client.list_artifacts(r.info.run_id, "attributions")]
        assert any(a.endswith(f"{name}.parquet") for a in arts)
        run_json = json.loads((root / f"models/finetuned/{name}/run.json").read_text())
        assert run_json["run_id"] == r.info.run_id
    comparison = next(r for r in runs if r.data.tags.get("kind") == "comparison")
    compared = {k.removeprefix("compared."): v for k, v in comparison.data.tags.items() if k.startswith("compared.")}
    assert compared == {n: r.info.run_id for n, r in models.items()}
    assert any(a.path == "report" for a in client.list_artifacts(comparison.info.run_id))
    del mlflow


def test_second_repro_does_no_work(project):
    root, env, _ = project
    before = (root / "reports/index.html").stat().st_mtime_ns
    second = run(["dvc", "repro"], root, env)
    assert "Running stage" not in second.stdout
    assert (root / "reports/index.html").stat().st_mtime_ns == before
    status = run(["dvc", "status"], root, env)
    assert "up to date" in status.stdout
