import time

import pytest

from ccattr import tracking
from ccattr.config import TrackingParams


def test_local_store_creates_experiment_and_runs_carry_lineage(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tp = TrackingParams(uri=f"sqlite:///{tmp_path}/m.db", artifact_location=str(tmp_path / "art"), experiment="t")
    exp_id = tracking.setup(tp)
    with tracking.start_run("m1", stage="finetune", tags={"strategy": "lora"}) as run:
        tracking.log_params({"a": {"b": 1}, "c": "x"})
        mlflow.log_metric("loss", 1.0, step=1)
    with tracking.start_run(run_id=run.info.run_id, stage="evaluate"):
        mlflow.log_metric("eval_similarity", 0.5)
    got = mlflow.get_run(run.info.run_id)
    assert got.info.experiment_id == exp_id and got.info.status == "FINISHED"
    assert got.data.params == {"a.b": "1", "c": "x"}
    assert got.data.tags["strategy"] == "lora" and got.data.tags["stage.evaluate"] == "done"
    assert "version.torch" in got.data.tags and "git_commit" in got.data.tags
    assert got.data.metrics["eval_similarity"] == 0.5
    # the UI opens the runs table, not the GenAI overview
    assert mlflow.get_experiment(exp_id).tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"


def test_unreachable_server_fails_fast_naming_the_uri(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # discard port: nothing listens
    start = time.perf_counter()
    with pytest.raises(tracking.TrackingUnavailable, match=r"http://127\.0\.0\.1:9"):
        tracking.setup(TrackingParams())
    assert time.perf_counter() - start < 10


def test_secrets_in_the_environment_never_reach_values(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_supersecretvalue123")
    clean = tracking.scrub({"a": "uses hf_supersecretvalue123 here", "b": "fine"})
    assert clean == {"a": "***", "b": "fine"}
    assert tracking.redact_uri("http://u:p@host:5000") == "http://***@host:5000"


def test_flatten():
    assert tracking.flatten({"a": {"b": {"c": 1}}, "d": 2}) == {"a.b.c": 1, "d": 2}


def test_dvc_deps_hash_follows_the_lock_entry(tmp_path):
    lock = tmp_path / "dvc.lock"
    entry = ("schema: '2.0'\nstages:\n  finetune@lora-a:\n    cmd: python stages/finetune.py lora a\n"
             "    deps:\n    - path: data/validated/train.jsonl\n      md5: {md5}\n      size: 10\n"
             "    params:\n      params.yaml:\n        seed: {seed}\n    outs:\n    - path: models/finetuned/lora-a\n"
             "      md5: {out}.dir\n")
    lock.write_text(entry.format(md5="a" * 32, seed=1, out="c" * 32))
    first = tracking.dvc_deps_hash("finetune@lora-a", lock)
    assert first and len(first) == 64 and tracking.dvc_deps_hash("evaluate@lora-a", lock) is None
    lock.write_text(entry.format(md5="a" * 32, seed=1, out="d" * 32))  # outputs are not inputs
    assert tracking.dvc_deps_hash("finetune@lora-a", lock) == first
    lock.write_text(entry.format(md5="b" * 32, seed=1, out="c" * 32))
    assert tracking.dvc_deps_hash("finetune@lora-a", lock) != first
    lock.write_text(entry.format(md5="a" * 32, seed=2, out="c" * 32))
    assert tracking.dvc_deps_hash("finetune@lora-a", lock) != first
    assert tracking.dvc_deps_hash("x", tmp_path / "missing.lock") is None
