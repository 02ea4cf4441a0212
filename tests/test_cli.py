"""End to end: an LRML-layout table imported, split and validated through the ``ccattr`` CLI,
and the ``validate_corpus`` DVC stage run as a subprocess in a scratch project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from ccattr.cli import app
from ccattr.corpus import import_corpus

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / "stages" / "validate_corpus.py"

# The public LRML datasets' layout: file, number, text, lrml (rules here in the project notation).
# Three documents of 6, 3 and 3 clauses: a document split at 0.25 is exact whatever the seed.
LRML = [
    ("B1_AS1", "1.1", "The clear width of an accessible route shall be not less than 1200 mm.",
     "obligation(atom(rel(greaterThanOrEqual),expr(fun(clear_width),var(accessible_route)),data(1200 mm)))"),
    ("B1_AS1", "1.2", "Handrails shall be provided on both sides of stairs wider than 2000 mm.",
     "if(atom(rel(greaterThan),expr(fun(width),var(stair)),data(2000 mm))),"
     "then(obligation(atom(fun(has),var(stair),data(handrails on both sides))))"),
    ("B1_AS1", "1.3", "The pitch of a private stair shall not exceed 47 degrees.",
     "obligation(atom(rel(lessThanOrEqual),expr(fun(pitch),var(private_stair)),data(47 degrees)))"),
    ("B1_AS1", "1.4", "Every landing shall be at least 900 mm long.",
     "obligation(atom(rel(greaterThanOrEqual),expr(fun(length),var(landing)),data(900 mm)))"),
    ("B1_AS1", "1.5", "Ramps shall have a gradient no steeper than 1:12.",
     "obligation(atom(rel(lessThanOrEqual),expr(fun(gradient),var(ramp)),data(1:12)))"),
    ("B1_AS1", "1.6", "Barriers shall be provided where a fall of more than 1 m is possible.",
     "if(atom(rel(greaterThan),expr(fun(fall_height),var(edge)),data(1 m))),"
     "then(obligation(atom(fun(has),var(edge),data(barrier))))"),
    ("C_AS2", "2.1", "Where a building has more than 3 storeys, every exit stair shall have a fire "
     "resistance rating of at least 60 minutes.",
     "if(atom(rel(greaterThan),expr(fun(storey_count),var(building)),data(3))),then(obligation("
     "atom(rel(greaterThanOrEqual),expr(fun(fire_resistance_rating),var(exit_stair)),data(60 min))))"),
    ("C_AS2", "2.2", "Smoke detectors shall be installed in every sleeping room.",
     "obligation(atom(fun(has),var(sleeping_room),data(smoke detector)))"),
    ("C_AS2", "2.3", "Fire doors shall not be held open by wedges.",
     "prohibition(atom(fun(held_open_by),var(fire_door),data(wedge)))"),
    ("G13_AS1", "3.1", "Sanitary fixtures shall not discharge directly into a stormwater drain.",
     "prohibition(atom(fun(discharges_into),var(sanitary_fixture),data(stormwater drain)))"),
    ("G13_AS1", "3.2", "Drains shall have a minimum diameter of 100 mm.",
     "obligation(atom(rel(greaterThanOrEqual),expr(fun(diameter),var(drain)),data(100 mm)))"),
    ("G13_AS1", "3.3", "Vent pipes shall terminate at least 600 mm above any opening window.",
     "obligation(atom(rel(greaterThanOrEqual),expr(fun(height_above_window),var(vent_pipe)),data(600 mm)))"),
]
MAP = ["--map", "text=text", "--map", "rule=lrml", "--map", "document=file", "--map", "clause_number=number"]


def write_lrml(path: Path) -> Path:
    pd.DataFrame(LRML, columns=["file", "number", "text", "lrml"]).to_csv(path, index=False)
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


runner = CliRunner()


def test_import_split_validate_end_to_end(tmp_path):
    src = write_lrml(tmp_path / "lrml.csv")
    corpus = tmp_path / "corpus" / "lrml.jsonl"
    res = runner.invoke(app, ["corpus", "import", str(src), "--out", str(corpus), *MAP, "--topic", "nzbc"])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "12 record(s) from 3 document(s)" in res.output

    out = tmp_path / "split"
    res = runner.invoke(app, ["corpus", "split", str(corpus.parent), "--out-dir", str(out),
                              "--test-fraction", "0.25", "--seed", "7", "--docs", str(tmp_path / "docs")])
    assert res.exit_code == 0, res.output
    assert "passed" in res.output
    train, test = read_jsonl(out / "train.jsonl"), read_jsonl(out / "test.jsonl")
    assert len(train) + len(test) == 12 and len(test) == 3
    assert not {r["document"] for r in train} & {r["document"] for r in test}
    assert set(train[0]) == {"id", "document", "clause_number", "clause", "rule", "topic", "provenance",
                             "notation"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["success"] and summary["n_errors"] == 0 and summary["n_documents"] == 3
    assert (tmp_path / "docs" / "index.html").is_file()

    res = runner.invoke(app, ["corpus", "split", str(corpus), "--out-dir", str(out), "--no-validate"])
    assert res.exit_code == 1 and "--overwrite" in res.output


def test_import_refuses_existing_file_and_bad_map(tmp_path):
    src = write_lrml(tmp_path / "lrml.csv")
    target = tmp_path / "data" / "corpus" / "fire.jsonl"
    target.parent.mkdir(parents=True)
    target.write_text('{"id": "keep"}\n')
    res = runner.invoke(app, ["corpus", "import", str(src), "--out", str(target), *MAP])
    assert res.exit_code == 1 and f"{target}: already exists" in res.output
    assert target.read_text() == '{"id": "keep"}\n'
    res = runner.invoke(app, ["corpus", "import", str(src), "--out", str(tmp_path / "n.jsonl"), "--map", "text"])
    assert res.exit_code == 2 and "FIELD=COLUMN" in res.output


def test_split_without_validation_reports_malformed_input(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\nnot json\n')
    res = runner.invoke(app, ["corpus", "split", str(bad), "--out-dir", str(tmp_path / "o"), "--no-validate"])
    assert res.exit_code == 1
    assert f"{bad}:1: missing field(s)" in res.output and f"{bad}:2: invalid JSON" in res.output
    assert not (tmp_path / "o").exists()


# --- the DVC stage ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A scratch project: params.yaml + data/corpus/lrml.jsonl (imported), stage run once."""
    root = tmp_path_factory.mktemp("project")
    params = {
        "corpus": {"files": ["data/corpus"], "split": "document", "test_fraction": 0.25, "seed": 3},
        "scales": {"tiny": {"source": "local", "path": "models/tiny"}},
        "strategies": {"fft": {"learning_rate": 1e-4}},
        "run": {"strategies": ["fft"], "scales": ["tiny"]},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    import_corpus(write_lrml(root / "lrml.csv"), {}, root / "data" / "corpus" / "lrml.jsonl", topic="nzbc")
    first = run_stage(root)
    return root, first


def run_stage(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "160"}
    return subprocess.run([sys.executable, str(STAGE)], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def test_stage_writes_outputs(project):
    root, first = project
    assert first.returncode == 0, first.stderr
    train = read_jsonl(root / "data" / "validated" / "train.jsonl")
    test = read_jsonl(root / "data" / "validated" / "test.jsonl")
    assert (len(train), len(test)) == (9, 3)
    assert [r["id"] for r in train] == sorted(r["id"] for r in train)
    assert "source_file" not in train[0]
    summary = json.loads((root / "results" / "validation" / "summary.json").read_text())
    assert summary["success"] and summary["n_train"] == 9 and summary["n_test_out"] == 3
    assert summary["expectations"]["rules.parse"]["success"]
    assert (root / "reports" / "validation" / "index.html").is_file()


def test_stage_fails_without_touching_validated_data(project):
    root, _ = project
    train = root / "data" / "validated" / "train.jsonl"
    before = train.read_bytes()
    extra = root / "data" / "corpus" / "zz_bad.jsonl"
    bad = {"id": "bad-1", "document": "Extra", "clause_number": "9.1", "topic": "nzbc", "provenance": "t",
           "clause": "Doors shall be at least 810 mm wide.", "rule": "must(door,810 mm)"}
    try:
        extra.write_text(json.dumps(bad) + "\n")
        res = run_stage(root)
        assert res.returncode == 1
        assert "rules.parse" in res.stderr and "bad-1" in res.stderr
        assert f"{Path('data/corpus/zz_bad.jsonl')}:1" in res.stderr
        assert train.read_bytes() == before

        extra.write_text(json.dumps(bad) + "\n" + '{"id": "bad-2",\n')
        res = run_stage(root)
        assert res.returncode == 1
        assert "data/corpus/zz_bad.jsonl:2: invalid JSON" in res.stderr
        assert "Traceback" not in res.stderr
        assert train.read_bytes() == before
    finally:
        extra.unlink(missing_ok=True)


def test_validate_command_on_the_configured_corpus(project, monkeypatch):
    root, _ = project
    monkeypatch.chdir(root)
    res = runner.invoke(app, ["corpus", "validate", "--json"])
    assert res.exit_code == 0, res.output
    assert '"n_documents": 3' in res.output
    res = runner.invoke(app, ["corpus", "expectations"])
    assert res.exit_code == 0 and "leakage.clause_overlap" in res.output
