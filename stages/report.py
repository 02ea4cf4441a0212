"""DVC stage report: reports/index.html (self-contained) + reports/figures/, logged to the
comparison run in MLflow, every table row linked to the runs behind it."""

import mlflow

from ccattr import tracking
from ccattr.io import read_json
from ccattr.report import build_report
from ccattr.runtime import ATTR_DIR, COMPARE_DIR, EVAL_DIR, REPORT_DIR, first_work, init_stage


def main() -> None:
    params = init_stage("report")
    tracking.setup(params.tracking)
    comparison = read_json(COMPARE_DIR / "run.json")
    ui = params.tracking.ui_url
    run_links = {m["run_id"]: comparison["experiment_id"] for m in comparison["compared"]}
    first_work("report")
    index = build_report(COMPARE_DIR, ATTR_DIR, EVAL_DIR, REPORT_DIR,
                         validation_summary=read_json("results/validation/summary.json"),
                         run_links=run_links, tracking_ui_url=ui, statistics=params.statistics,
                         top_k_fraction=params.attribution.top_k_fraction)
    with tracking.start_run(run_id=comparison["run_id"], stage="report"):
        tracking.tag_dvc_lineage(comparison["run_id"], ["compare"])
        mlflow.log_artifact(str(index), artifact_path="report")
        mlflow.log_artifacts(str(REPORT_DIR / "figures"), artifact_path="report/figures")
    print(f"report: {index.resolve()}")


if __name__ == "__main__":
    main()
