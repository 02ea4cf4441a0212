"""The published-data path end to end on the tiny profile: import a table in the NZBC LRML layout
(the test fixture, written in its format) with `ccattr corpus import`, validate it under the
`lrml` notation with the published document split, run `dvc repro`, and find LRML F, BLEU and
similarity per model in results/eval, in MLflow and in the report. Then a failed validation:
the previous outputs come back with a plain `dvc checkout`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pipeline_helpers import ROOT, base_env, new_project, run, warm_interpreter

pytestmark = pytest.mark.e2e
FIXTURE = ROOT / "tests" / "fixtures" / "nzbc_lrml_sample.csv"
CORPUS = "data/external/nzbc_sample.jsonl"
NAMES = ["fft-tiny-a", "lora-tiny-a"]  # two models keep the run short; the statistics need two
# What profiles/nzbc-lrml.yaml says about the data, for the fixture, on the tiny models.
NZBC = {"corpus": {"files": [CORPUS], "notation": "lrml", "split": "fixed",
                   "test_documents": ["G14VM1", "D1AS1", "B2AS1"], "max_clause_chars": 1000},
        "run": {"strategies": ["fft", "lora"], "scales": ["tiny-a"]},
        "statistics": {"quality_metric": "lrml_f"}}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nzbc")
    root, env = tmp / "ccattr", base_env()
    profile = tmp / "nzbc-sample.yaml"
    profile.write_text(yaml.safe_dump(NZBC))
    new_project(root, env, "profiles/tiny.yaml", str(profile))
    cli = [sys.executable, "-m", "ccattr.cli"]
    imported = run([*cli, "corpus", "import", str(FIXTURE), "--out", CORPUS], root, env)
    validated = run([*cli, "corpus", "validate", "--json"], root, env)
    with warm_interpreter(env) as env:  # stages fork from it, as under `make repro`
        repro = run(["dvc", "repro"], root, env, timeout=1500)
        yield root, env, imported, validated, repro


def test_import_and_validate_under_lrml(project):
    root, _, imported, validated, _ = project
    assert "wrote data/external/nzbc_sample.jsonl: 36 record(s) from 8 document(s)" in imported.stdout
    assert "notation: lrml (detected" in imported.stdout
    summary = json.loads(validated.stdout[validated.stdout.index("{"):])
    assert summary["success"] and summary["n_errors"] == 0
    assert (summary["n_train"], summary["n_test"], summary["notation"]) == (26, 10, "lrml")
    assert "rules in lrml: 36 of 36 parse" in validated.stderr


def test_eval_metrics_per_model_hold_the_fields_own_metrics(project):
    root = project[0]
    for name in NAMES:
        m = json.loads((root / "results" / "eval" / name / "metrics.json").read_text())
        assert m["notation"] == "lrml" and m["n"] == 8
        for key in ("similarity", "lrml_precision", "lrml_recall", "lrml_f_score", "corpus_bleu", "parse_rate"):
            assert isinstance(m[key], float) and m[key] >= 0, (name, key)
        rows = [json.loads(line) for line in (root / "results" / "eval" / name / "predictions.jsonl").open()]
        assert {r["notation"] for r in rows} == {"lrml"} and all("lrml_f" in r and "bleu" in r for r in rows)
    summary = json.loads((root / "results" / "compare" / "summary.json").read_text())
    assert summary["quality_metric"] == "lrml_f" and summary["notation"] == "lrml"


def test_mlflow_and_report_show_them(project):
    root = project[0]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("ccattr")
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("model_name") in NAMES]
    assert len(runs) == len(NAMES)
    for r in runs:
        assert r.data.tags["notation"] == "lrml"
        assert {"eval_lrml_f_score", "eval_corpus_bleu", "eval_similarity"} <= set(r.data.metrics)
    assert any("check_kernel_shap_spearman" in r.data.metrics for r in runs)  # the method check, on lrml rules
    assert all(r.data.tags.get("stage.check_methods") == "done" for r in runs)
    page = (root / "reports" / "index.html").read_text()
    assert "rule notation: lrml" in page and "LRML F" in page and "BLEU" in page
    assert '<section id="method_check">' in page and "KernelSHAP (8 coalitions)" in page
    assert "Published LRML F-scores on the NZBC data" in page and "56.2-57.4" in page
    assert "LRML F (per pair)" in page  # the plateau reads statistics.quality_metric


def test_method_check_tables_and_their_comparison(project):
    root = project[0]
    for name in NAMES:
        clauses = pd.read_parquet(root / "results" / "method_check" / f"{name}.clauses.parquet")
        units = pd.read_parquet(root / "results" / "method_check" / f"{name}.parquet")
        assert sorted(clauses["method"]) == ["exact", "exact", "kernel_shap", "kernel_shap"]  # 2 clauses
        assert set(units["method"]) == {"exact", "kernel_shap"} and (clauses["seconds"] > 0).all()
        # the clauses the attribute stage attributed first, with its units
        attributed = pd.read_parquet(root / "results" / "attributions" / f"{name}.clauses.parquet")
        assert list(dict.fromkeys(clauses["clause_id"])) == attributed["clause_id"].head(2).tolist()
    tables = root / "results" / "compare" / "tables"
    agreement = pd.read_csv(tables / "method_agreement.csv")
    assert sorted(agreement["strategy"]) == ["fft", "lora"] and set(agreement["method"]) == {"kernel_shap"}
    verdicts = pd.read_csv(tables / "method_verdicts.csv", dtype={"claim": str})
    assert verdicts.loc[verdicts["kind"] == "claim", "claim"].tolist() == ["1", "2", "3"]
    summary = json.loads((root / "results" / "compare" / "summary.json").read_text())
    assert summary["method_check"]["methods"] == ["kernel_shap"]


def test_failed_validation_keeps_the_previous_outputs_one_plain_checkout_away(project):
    root, env, *_ = project
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "pipeline results"], root, env)
    corpus = root / CORPUS
    good = corpus.read_text()
    before = (root / "data" / "validated" / "train.jsonl").read_bytes()
    first = json.loads(good.splitlines()[0])
    bad = [{**first, "rule": "if(exist(gutter),then(obligation(x))"},  # unbalanced
           {**first, "id": json.loads(good.splitlines()[1])["id"]}]    # a duplicate id
    corpus.write_text(good + "".join(json.dumps(r) + "\n" for r in bad))
    res = __import__("subprocess").run(["dvc", "repro", "validate_corpus"], cwd=root, env=env,
                                       capture_output=True, text=True, timeout=600)
    assert res.returncode != 0
    assert "rules.parse" in res.stderr and "schema.unique_id" in res.stderr
    assert "unclosed parenthesis" in res.stderr and f"{CORPUS}:37" in res.stderr
    assert "`dvc checkout` brings the previous data/validated/ and reports/validation/ back" in res.stderr
    assert (root / "reports" / "validation-failed" / "index.html").is_file()  # the failure stays readable

    corpus.write_text(good)
    run(["dvc", "checkout"], root, env)  # plain: no --force needed
    assert (root / "data" / "validated" / "train.jsonl").read_bytes() == before
    assert (root / "reports" / "validation" / "index.html").is_file()
    run(["git", "checkout", "--", "results/validation/summary.json"], root, env)
    status = run(["dvc", "status"], root, env)
    assert "up to date" in status.stdout, status.stdout
    assert Path(root / "reports" / "validation-failed").exists()  # kept until the next success
