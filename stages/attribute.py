"""DVC stage attribute@<strategy>-<scale>: leave-one-unit-out attribution of test clauses.

Writes results/attributions/<name>.parquet (one row per clause unit), <name>.clauses.parquet
(focus, faithfulness and number/identifier fidelity per clause), <name>.maps.parquet (clause
unit x rule token log-probability drops) and <name>.fidelity.parquet (one row per number or
identifier of each generated rule: the clause unit it leaned on most). Scores are cached by (checkpoint, clause, config) hashes in
.cache/attributions, so when a few rules change only those clauses are recomputed.
"""

import sys

import mlflow

from ccattr import tracking
from ccattr.attribute_setup import attributed_rows, load_model, make_attributor
from ccattr.attribution import AttributionCache, attribute_many
from ccattr.fidelity import KINDS, clause_rates, items_frame
from ccattr.io import read_json, read_jsonl, sha256_dir
from ccattr.runtime import (
    ATTR_DIR,
    CACHE_DIR,
    EVAL_DIR,
    FINETUNED_DIR,
    PREDICTIONS_FILE,
    RUN_INFO_FILE,
    first_work,
    init_stage,
)
from ccattr.tables import TABLE_SUFFIXES, write_parquet


def main(strategy: str, scale: str) -> None:
    name = f"{strategy}-{scale}"
    params = init_stage(f"attribute@{name}")
    tracking.setup(params.tracking)
    ap = params.attribution
    run = read_json(FINETUNED_DIR / name / RUN_INFO_FILE)
    rows, empty = attributed_rows(read_jsonl(EVAL_DIR / name / PREDICTIONS_FILE), ap)
    if not rows:
        raise SystemExit(f"attribute@{name}: the model generated an empty rule for every test clause; "
                         f"nothing to attribute (train longer or set generation.min_new_tokens)")
    loaded = load_model(params, strategy, scale)
    precision = loaded.precision
    attributor = make_attributor(params, loaded)
    clauses = [{"id": r["id"], "clause": r["clause"], "target": r["prediction"], "reference": r["reference"]}
               for r in rows]
    first_work(f"attribute@{name}")
    long_df, clause_df, map_df = attribute_many(attributor, clauses,
                                                cache=AttributionCache(CACHE_DIR / "attributions"),
                                                checkpoint_hash=sha256_dir(FINETUNED_DIR / name, "*.safetensors"))
    targets = {str(r["id"]): (r["reference"] if ap.target == "reference" else r["prediction"],
                              r.get("notation") or params.corpus.notation) for r in rows}
    fidelity_df = items_frame(long_df, map_df, targets)
    clause_df = clause_df.merge(clause_rates(fidelity_df, clause_df["clause_id"]), on="clause_id", how="left")
    # The model's other facts (family, parameters, run) live in the one table of runs (compare's runs.csv).
    for df in (long_df, clause_df, map_df, fidelity_df):
        df["strategy"], df["scale"] = strategy, scale
    write_parquet(long_df, ATTR_DIR / (name + TABLE_SUFFIXES["units"]))
    write_parquet(clause_df, ATTR_DIR / (name + TABLE_SUFFIXES["clauses"]))
    write_parquet(map_df, ATTR_DIR / (name + TABLE_SUFFIXES["maps"]))
    write_parquet(fidelity_df, ATTR_DIR / (name + TABLE_SUFFIXES["fidelity"]))
    with tracking.start_run(run_id=run["run_id"], stage="attribute", tags=precision.tags("attribution")):
        mlflow.log_metrics({f"attr_mean_{k}": float(clause_df[k].mean())
                            for k in ("entropy", "gini", "top_k_share", "comprehensiveness", "sufficiency")})
        mlflow.log_metric("attr_skipped_empty_predictions", len(empty))
        scored = fidelity_df[fidelity_df["has_source"].astype(bool)]
        for kind, col in KINDS.items():  # pooled over items; the per-clause rates go to compare
            k = scored[scored["kind"] == kind]
            if len(k):
                mlflow.log_metrics({f"attr_{col}": float(k["faithful"].mean()), f"attr_{kind}_items": len(k)})
        for suffix in TABLE_SUFFIXES.values():
            mlflow.log_artifact(str(ATTR_DIR / (name + suffix)), artifact_path="attributions")
    print(f"{name}: {len(clause_df)} clauses ({len(empty)} skipped: empty prediction), {len(long_df)} units, "
          f"mean normalized entropy {clause_df['entropy'].mean():.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
