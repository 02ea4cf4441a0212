"""DVC stage compare: statistics across strategies and scales, in one MLflow comparison run.

Reads every model of the run matrix from results/eval, results/attributions and
results/method_check, runs the strategy tests, divergence, scale trends, the plateau analysis and
the cheaper estimators' check against exact leave-one-out (ccattr.stats), and writes
results/compare/{tables/*.csv, summary.json, plots/*.csv, run.json}.
"""

import mlflow

from ccattr import stats, tracking
from ccattr.io import write_json
from ccattr.runtime import (
    ATTR_DIR,
    COMPARE_DIR,
    COMPARE_RUN,
    COMPARE_SUMMARY,
    EVAL_DIR,
    METHOD_CHECK_DIR,
    first_work,
    init_stage,
)


def main() -> None:
    params = init_stage("compare")
    exp_id = tracking.setup(params.tracking)
    names = set(params.model_names())
    # The evaluation records each model's run (from finetune's run.json); the attribution rows
    # carry only (strategy, scale) and are joined to that one table of runs.
    eval_df = stats.load_eval(EVAL_DIR)
    runs = stats.runs_table(eval_df)
    long_df, clause_df = stats.load_attributions(ATTR_DIR, runs)
    fidelity_df = stats.load_fidelity(ATTR_DIR, runs)
    check_units, check_clauses = stats.load_method_check(METHOD_CHECK_DIR, runs)
    # Only the current run matrix: files of models dropped from params.yaml may linger.
    keep = lambda df: df[(df["strategy"] + "-" + df["scale"]).isin(names)].reset_index(drop=True)  # noqa: E731
    long_df, clause_df, eval_df, fidelity_df = keep(long_df), keep(clause_df), keep(eval_df), keep(fidelity_df)
    check = stats.MethodCheck.from_params(keep(check_units), keep(check_clauses), params.method_check)
    first_work("compare")
    tables, summary = stats.run_comparison(long_df, clause_df, eval_df, params.statistics,
                                           params.attribution.top_k_fraction, fidelity_df=fidelity_df,
                                           method_check=check)
    # every model compared, from the one table of runs the comparison publishes
    compared = list(tables["runs"].dropna(subset=["run_id"])[["strategy", "scale", "run_id"]]
                    .itertuples(index=False, name=None))
    stats.save_comparison(COMPARE_DIR, tables, summary)
    with tracking.start_run(run_name="comparison", stage="compare",
                            tags={"kind": "comparison", "compared_runs": ",".join(r for *_, r in compared)}) as run:
        tracking.log_params({"statistics": params.statistics.model_dump(), "models": ",".join(sorted(names))})
        for s, c, r in compared:
            mlflow.set_tag(f"compared.{s}-{c}", r)
            # The upstream stages of this model are finished, so dvc.lock now holds their hashes.
            tracking.tag_dvc_lineage(r, [f"{stage}@{s}-{c}" for stage in ("finetune", "evaluate", "attribute",
                                                                        "check_methods")])
        # The run's description (shown on its MLflow page) links every model run it compared.
        mlflow.set_tag("mlflow.note.content", "Compared runs:\n\n" + "\n".join(
            f"- [{s}-{c}](#/experiments/{exp_id}/runs/{r})" for s, c, r in compared))
        mlflow.log_artifacts(str(COMPARE_DIR / "tables"), artifact_path="compare/tables")
        mlflow.log_artifact(str(COMPARE_SUMMARY), artifact_path="compare")
        sim = tables.get("similarity")
        if sim is not None:
            for row in sim.itertuples(index=False):
                mlflow.log_metric(f"similarity.{row.strategy}-{row.scale}", float(row.similarity))
        for row in tables["fidelity"].itertuples(index=False):
            mlflow.log_metric(f"{row.kind}_fidelity.{row.strategy}-{row.scale}", float(row.rate))
        mlflow.log_metrics(stats.method_metrics(summary["method_check"]))
    write_json(COMPARE_RUN, {
        "run_id": run.info.run_id, "experiment_id": exp_id,
        "compared": [{"model": f"{s}-{c}", "run_id": r} for s, c, r in compared]})
    for sentence in stats.findings(summary):
        print(f"- {sentence}")


if __name__ == "__main__":
    main()
