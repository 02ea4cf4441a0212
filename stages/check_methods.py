"""DVC stage check_methods@<strategy>-<scale>: the cheaper estimators of method_check.methods
measured against exact leave-one-out, on the first method_check.clauses of the clauses the
attribute stage attributes, with its settings (but no faithfulness metrics: the time of each call
is the method's own).

Writes results/method_check/<name>.parquet (the unit rows of every method, with ``method``) and
<name>.clauses.parquet (per clause and method: the clause summary, seconds, agreement with exact),
and logs the means and the tables on the model's MLflow run. With no method listed it writes the
two tables empty and loads no model.
"""

import sys

import mlflow

from ccattr import tracking
from ccattr.attribute_setup import attributed_rows, load_model, make_attributor
from ccattr.io import read_json, read_jsonl
from ccattr.method_check import EXACT, check_clauses, check_frames, run_metrics
from ccattr.runtime import (
    EVAL_DIR,
    FINETUNED_DIR,
    METHOD_CHECK_DIR,
    PREDICTIONS_FILE,
    RUN_INFO_FILE,
    first_work,
    init_stage,
)
from ccattr.tables import CHECK_SUFFIXES, write_parquet


def main(strategy: str, scale: str) -> None:
    name = f"{strategy}-{scale}"
    params = init_stage(f"check_methods@{name}")
    mc = params.method_check
    units, clauses = check_frames([], [])
    if mc.methods:
        tracking.setup(params.tracking)
        run = read_json(FINETUNED_DIR / name / RUN_INFO_FILE)
        rows, _ = attributed_rows(read_jsonl(EVAL_DIR / name / PREDICTIONS_FILE), params.attribution)
        loaded = load_model(params, strategy, scale)
        attributors = {m: make_attributor(params, loaded, method=m, n_samples=mc.n_samples, faithfulness=False)
                       for m in (EXACT, *mc.methods)}
        first_work(f"check_methods@{name}")
        units, clauses = check_clauses(attributors, rows[: mc.clauses], params.attribution.top_k_fraction)
    for df in (units, clauses):
        df["strategy"], df["scale"] = strategy, scale
    paths = {kind: METHOD_CHECK_DIR / (name + suffix) for kind, suffix in CHECK_SUFFIXES.items()}
    write_parquet(units, paths["units"])
    write_parquet(clauses, paths["clauses"])
    if not mc.methods:
        print(f"{name}: no method to check (method_check.methods is empty)")
        return
    # The budget is a tag, not a param: MLflow params never change, and a rerun with another
    # budget logs to the same run.
    with tracking.start_run(run_id=run["run_id"], stage="check_methods", tags={"check_n_samples": mc.n_samples}):
        mlflow.log_metrics(run_metrics(clauses))
        for path in paths.values():
            mlflow.log_artifact(str(path), artifact_path="method_check")
    means = clauses.groupby("method", sort=False).agg(s=("seconds", "mean"), rho=("spearman", "mean"))
    print(f"{name}: {clauses['clause_id'].nunique()} clauses; " + "; ".join(
        f"{m} {r.s:.2f} s/clause, Spearman with exact {r.rho:.2f}" for m, r in means.iterrows()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
