"""End to end, the way a team runs it: copy the project into a temporary git repo, apply the tiny
profile (random-weight Llama with the real SmolLM2 tokenizer, fft/lora/qlora x two scales), start a
real `mlflow server` on 127.0.0.1 (SQLite backend, temp artifact root), configure a local DVC
remote, plant secrets in the environment, and run `scripts/retrain.sh` (validate, `dvc repro`,
`dvc push`, Markdown summary) against the server over HTTP. Then check every output, the lineage
through MLflow's client API, the remote (a fresh clone pulls everything), the no-op rerun, a
two-point `dvc exp run -S` sweep, and that no planted secret reached anything written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from secrets import token_hex

import numpy as np
import pandas as pd
import pytest
from pipeline_helpers import BIN, base_env, free_port, new_project, run, warm_interpreter

from ccattr.io import sha256_file
from ccattr.tracking import dvc_deps_hash

NAMES = [f"{s}-{c}" for s in ("fft", "lora", "qlora") for c in ("tiny-a", "tiny-b")]
# Planted in the pipeline's environment; none may appear in any file it or the server writes.
# Drawn at import so that the values are in no file (the test's own source is copied too).
SECRETS = {"HF_TOKEN": f"hf_{token_hex(12)}", "AWS_SECRET_ACCESS_KEY": f"aws/{token_hex(16)}+x",
           "MLFLOW_TRACKING_PASSWORD": f"pw-{token_hex(10)}"}
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real MLflow tracking server on localhost: SQLite backend, proxied artifact folder."""
    home = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = open(home / "server.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1", "--backend-store-uri", f"sqlite:///{home}/server.db",
                             "--artifacts-destination", str(home / "artifacts")],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=base_env())
    uri = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(uri + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError(f"mlflow server did not start:\n{(home / 'server.log').read_text()[-4000:]}")
        yield uri, home
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory, server):
    uri, _ = server
    tmp = tmp_path_factory.mktemp("e2e")
    root, remote = tmp / "ccattr", tmp / "dvc-remote"
    env = base_env()
    new_project(root, env, "profiles/tiny.yaml")
    run(["dvc", "remote", "add", "-d", "local", str(remote)], root, env)
    run(["git", "commit", "-qam", "local DVC remote"], root, env)
    env = {**env, **SECRETS, "MLFLOW_TRACKING_URI": uri, "MLFLOW_TRACKING_USERNAME": "ccattr-test"}
    first = run(["scripts/retrain.sh", "--summary", "retrain-summary.md", "--commit"], root, env)
    # Later runs (the sweep, ...) fork their stages from a warm interpreter, as `make repro` does
    # (retrain.sh starts its own).
    with warm_interpreter(env) as env:
        yield root, env, first


def test_every_stage_writes_its_outputs(project):
    root, _, first = project
    for stage in ("validate_corpus", "prepare_model@tiny-a", "finetune@qlora-tiny-b", "evaluate@fft-tiny-a",
                  "attribute@lora-tiny-b", "check_methods@qlora-tiny-a", "compare", "report"):
        assert f"'{stage}'" in first.stdout, stage
    train = (root / "data/validated/train.jsonl").read_text().splitlines()
    test = (root / "data/validated/test.jsonl").read_text().splitlines()
    assert len(train) == 16 and len(test) == 8
    for scale in ("tiny-a", "tiny-b"):
        assert (root / f"models/base/{scale}/model.safetensors").exists()
    for name in NAMES:
        ft = root / "models/finetuned" / name
        assert (ft / ("model.safetensors" if name.startswith("fft") else "adapter_model.safetensors")).exists()
        assert json.loads((root / f"results/train/{name}/metrics.json").read_text())["steps"] == 3
        metrics = json.loads((root / f"results/eval/{name}/metrics.json").read_text())
        assert metrics["n"] == 8 and 0 <= metrics["edit_distance"] <= 1
        long_df = pd.read_parquet(root / f"results/attributions/{name}.parquet")
        clauses = pd.read_parquet(root / f"results/attributions/{name}.clauses.parquet")
        assert clauses["clause_id"].nunique() == 4 == long_df["clause_id"].nunique()
        assert {"clause_id", "unit_index", "text", "category", "start", "end", "raw_score", "norm_score"} <= set(long_df)
        assert long_df.groupby("clause_id")["norm_score"].sum().round(6).eq(1).all()
        # The clause-unit x rule-token map: each unit's row of drops sums to its score.
        maps = pd.read_parquet(root / f"results/attributions/{name}.maps.parquet")
        sums = maps.groupby(["clause_id", "unit_index"])["delta"].sum().rename("sum").reset_index()
        joined = long_df.merge(sums, on=["clause_id", "unit_index"])
        assert len(joined) == len(long_df) and np.allclose(joined["sum"], joined["raw_score"], atol=1e-3)
        assert {"number_fidelity", "identifier_fidelity"} <= set(clauses)
        assert (root / f"results/attributions/{name}.fidelity.parquet").exists()
        # the method check: exact and KernelSHAP on the first 2 of those clauses, timed, with the same units
        check = pd.read_parquet(root / f"results/method_check/{name}.clauses.parquet")
        check_units = pd.read_parquet(root / f"results/method_check/{name}.parquet")
        assert check[["clause_id", "method"]].values.tolist() == [
            [c, m] for c in clauses["clause_id"].head(2) for m in ("exact", "kernel_shap")]
        assert (check["seconds"] > 0).all() and check["n_samples"].dropna().tolist() == [8, 8]
        exact_units = check_units[check_units["method"] == "exact"].drop(columns="method").reset_index(drop=True)
        attributed = long_df[long_df["clause_id"].isin(check["clause_id"])].reset_index(drop=True)
        words = ["clause_id", "unit_index", "text", "category", "start", "end"]
        assert exact_units[words].equals(attributed[words])   # the attribute stage's settings: its scores
        assert np.allclose(exact_units["raw_score"], attributed["raw_score"], atol=1e-5)
        assert len(check_units[check_units["method"] == "kernel_shap"]) == len(exact_units)
    summary = json.loads((root / "results/compare/summary.json").read_text())
    assert summary and (root / "results/compare/tables/similarity.csv").exists()
    agreement = pd.read_csv(root / "results/compare/tables/method_agreement.csv")
    assert len(agreement) == len(NAMES) and set(agreement["method"]) == {"kernel_shap"}
    assert (agreement["clauses"] == 2).all() and agreement["cost_ratio"].notna().all()
    verdicts = pd.read_csv(root / "results/compare/tables/method_verdicts.csv", dtype={"claim": str})
    assert verdicts.loc[verdicts["kind"] == "claim", "claim"].tolist() == ["1", "2", "3"]
    assert {"pairwise", "trend"} <= set(verdicts["kind"])
    assert summary["method_check"]["methods"] == ["kernel_shap"]
    assert any(s.startswith("KernelSHAP (8 coalitions) ") for s in summary["findings"])
    html = (root / "reports/index.html").read_text()
    assert "Findings" in html and len(list((root / "reports/figures").glob("*.png"))) >= 3
    assert '<section id="method_check">' in html and (root / "reports/figures/method_agreement.png").exists()
    assert (root / "reports/validation/index.html").exists()


def test_lineage_on_the_tracking_server(project, server):
    """Which corpus, checkpoint and settings produced each number: asserted through MLflow's client."""
    from mlflow.tracking import MlflowClient

    root, _, _ = project
    client = MlflowClient(tracking_uri=server[0])
    runs = client.search_runs([client.get_experiment_by_name("ccattr").experiment_id])
    models = {r.data.tags["model_name"]: r for r in runs if r.data.tags.get("model_name")}
    assert sorted(models) == sorted(NAMES) and len(runs) == 7
    # The pipeline ran on the commit before the one retrain.sh --commit made afterwards.
    commit = run(["git", "rev-parse", "HEAD~1"], root, os.environ.copy()).stdout.strip()
    corpus_digest = sha256_file(root / "data/validated/train.jsonl")
    lock = root / "dvc.lock"
    for name, r in models.items():
        tags, rid = r.data.tags, r.info.run_id
        assert r.info.status == "FINISHED"
        strategy, scale = name.split("-", 1)
        assert (tags["strategy"], tags["scale"], tags["seed"]) == (strategy, scale, "1234")
        assert tags["git_commit"] == commit and tags["git_dirty"] == "false"
        assert tags["corpus_digest"] == corpus_digest and tags["base_model"] and tags["base_model_sha256"]
        # attribute and check_methods both log on the model's run, in either order
        assert tags["dvc_stage"] in ("attribute", "check_methods")
        assert tags["stage.finetune"] == tags["stage.evaluate"] == tags["stage.check_methods"] == "done"
        assert tags["check_n_samples"] == "8"
        assert {"version.torch", "version.transformers", "version.peft", "version.mlflow", "version.dvc"} <= set(tags)
        for stage in ("finetune", "evaluate", "attribute", "check_methods"):
            assert tags[f"dvc.deps_hash.{stage}"] == dvc_deps_hash(f"{stage}@{name}", lock), (name, stage)
        (dataset,) = [d.dataset for d in client.get_run(rid).inputs.dataset_inputs]
        assert dataset.name == "train" and corpus_digest.startswith(dataset.digest)
        assert {"loss", "final_loss", "eval_similarity", "attr_mean_entropy", "check_exact_s_per_clause",
                "check_kernel_shap_s_per_clause"} <= set(r.data.metrics), name
        assert len(client.get_metric_history(rid, "loss")) == 3  # per-step loss
        assert r.data.params["strategy"] == strategy and "trainable_params" in r.data.params
        weights = root / "models/finetuned" / name / ("model.safetensors" if strategy == "fft"
                                                       else "adapter_model.safetensors")
        assert tags[f"sha256.{weights.name}"] == sha256_file(weights)
        assert tags["checkpoint_path"] == f"models/finetuned/{name}"
        adapter = [a.path for a in client.list_artifacts(rid, "adapter")]
        assert (adapter == []) == (strategy == "fft")  # FFT weights: referenced by DVC path + sha256
        assert {"eval/metrics.json", "eval/predictions.jsonl"} <= {a.path for a in client.list_artifacts(rid, "eval")}
        arts = {a.path for a in client.list_artifacts(rid, "attributions")}
        assert {f"attributions/{name}.{k}parquet" for k in ("", "clauses.", "maps.", "fidelity.")} == arts
        arts = {a.path for a in client.list_artifacts(rid, "method_check")}
        assert {f"method_check/{name}.{k}parquet" for k in ("", "clauses.")} == arts
        assert json.loads((root / f"models/finetuned/{name}/run.json").read_text())["run_id"] == rid
    assert any("check_kernel_shap_spearman" in r.data.metrics for r in models.values())
    comparison = next(r for r in runs if r.data.tags.get("kind") == "comparison")
    assert {f"method_{k}.kernel_shap" for k in ("cost_ratio", "verdicts_changed")} <= set(comparison.data.metrics)
    compared = {k.removeprefix("compared."): v for k, v in comparison.data.tags.items() if k.startswith("compared.")}
    assert compared == {n: r.info.run_id for n, r in models.items()}
    note = comparison.data.tags["mlflow.note.content"]
    assert all(f"/runs/{r.info.run_id})" in note for r in models.values())
    assert comparison.data.tags["dvc.deps_hash.compare"] == dvc_deps_hash("compare", lock)
    assert any(a.path == "report" for a in client.list_artifacts(comparison.info.run_id))
    # Artifacts went through the server (proxied), not to a local folder of the project.
    assert not (root / "mlartifacts").exists() and not (root / "mlflow.db").exists()
    assert list((server[1] / "artifacts").rglob("index.html"))


def test_retrain_summary_remote_and_a_fresh_clone(project, tmp_path):
    root, env, first = project
    summary = (root / "retrain-summary.md").read_text()
    for heading in ("## Corpus validation", "## DVC remote", "## Params changed", "## Metrics", "## Key findings"):
        assert heading in summary, heading
    assert "results/eval/lora-tiny-a/metrics.json" in summary and "similarity" in summary
    assert "\n- " in summary.split("## Key findings")[1]  # at least one finding
    assert "retrain: dvc.lock and metrics" in run(["git", "log", "-1", "--format=%s"], root, env).stdout
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], root, env).stdout == ""
    # Everything DVC produced is on the remote: a fresh clone pulls it and has nothing to rerun.
    assert "in sync" in run(["dvc", "status", "--cloud"], root, env).stdout
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(root), str(clone)], tmp_path, env)
    run(["dvc", "pull"], clone, env)
    assert "up to date" in run(["dvc", "status"], clone, env).stdout
    assert sha256_file(clone / "models/finetuned/fft-tiny-b/model.safetensors") == \
        sha256_file(root / "models/finetuned/fft-tiny-b/model.safetensors")


def test_second_repro_does_no_work(project):
    root, env, _ = project
    before = (root / "reports/index.html").stat().st_mtime_ns
    second = run(["dvc", "repro"], root, env)
    assert "Running stage" not in second.stdout
    assert (root / "reports/index.html").stat().st_mtime_ns == before
    assert "up to date" in run(["dvc", "status"], root, env).stdout


def test_dvc_experiment_sweep_of_lora_rank(project, tmp_path):
    """Two points, rank 16 (the committed baseline) and rank 4 (`dvc exp run -S`): only the LoRA
    models, the comparison and the report rerun; exp show / metrics diff / plots diff see both."""
    root, env, _ = project
    exp = run(["dvc", "exp", "run", "-n", "lora-r4", "-S", "strategies.lora.lora.r=4"], root, env)
    reran = {s for s in ("finetune@lora-tiny-a", "finetune@lora-tiny-b", "finetune@fft-tiny-a",
                         "finetune@qlora-tiny-a", "compare") if f"Running stage '{s}'" in exp.stdout}
    assert reran == {"finetune@lora-tiny-a", "finetune@lora-tiny-b", "compare"}
    shown = json.loads(run(["dvc", "exp", "show", "--json"], root, env).stdout)
    points = {}
    for rev in shown:
        for e in [rev] + [x for x in rev.get("experiments") or [] for x in x["revs"]]:
            data = e.get("data") or {}
            r = data.get("params", {}).get("params.yaml", {}).get("data", {})
            if r:
                points[e.get("name") or e["rev"]] = (
                    r["strategies"]["lora"]["lora"]["r"],
                    data["metrics"]["results/train/lora-tiny-a/metrics.json"]["data"]["trainable_params"])
    assert points["lora-r4"][0] == 4 and 16 in {r for r, _ in points.values()}
    ranks = dict(points.values())
    assert ranks[16] == 4 * ranks[4]  # LoRA parameters scale with the rank
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], root, env).stdout)
    change = diff["results/train/lora-tiny-a/metrics.json"]["trainable_params"]
    assert (change["old"], change["new"]) == (ranks[16], ranks[4])
    assert "results/train/fft-tiny-a/metrics.json" not in diff  # untouched models do not move
    out = tmp_path / "plots"
    run(["dvc", "plots", "diff", "HEAD", "-o", str(out)], root, env)
    assert (out / "index.html").exists() and "similarity_vs_scale" in (out / "index.html").read_text()


def test_no_planted_secret_reaches_anything_written(project, server):
    root, _, _ = project
    needles = [v.encode() for v in SECRETS.values()]
    scanned = 0
    for base in (root, server[1]):
        for f in base.rglob("*"):
            if f.is_file() and ".git" not in f.relative_to(base).parts:
                data = f.read_bytes()
                scanned += 1
                assert not any(n in data for n in needles), f
    assert scanned > 100
