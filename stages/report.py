"""DVC stage report: reports/index.html (self-contained) + reports/figures/, rendered from what the
compare stage published (results/compare) and the attribute/evaluate stages' tables, logged to the
comparison run in MLflow, every table row linked to the runs behind it (runs.csv)."""

import mlflow

from ccattr import tracking
from ccattr.io import read_json
from ccattr.report import build_report
from ccattr.runtime import (
    ATTR_DIR,
    COMPARE_DIR,
    COMPARE_RUN,
    EVAL_DIR,
    REPORT_DIR,
    VALIDATION_SUMMARY,
    first_work,
    init_stage,
)


def main() -> None:
    params = init_stage("report")
    tracking.setup(params.tracking)
    comparison = read_json(COMPARE_RUN)
    run_links = {m["run_id"]: comparison["experiment_id"] for m in comparison["compared"]}
    first_work("report")
    index = build_report(COMPARE_DIR, ATTR_DIR, EVAL_DIR, REPORT_DIR,
                         validation_summary=read_json(VALIDATION_SUMMARY),
                         run_links=run_links, tracking_ui_url=params.tracking.ui_url)
    with tracking.start_run(run_id=comparison["run_id"], stage="report"):
        tracking.tag_dvc_lineage(comparison["run_id"], ["compare"])
        mlflow.log_artifact(str(index), artifact_path="report")
        mlflow.log_artifacts(str(REPORT_DIR / "figures"), artifact_path="report/figures")
    print(f"report: {index.resolve()}")


if __name__ == "__main__":
    main()
