"""DVC stage evaluate@<strategy>-<scale>: generate a rule for every test clause and score it."""

import sys

import mlflow

from ccattr import tracking
from ccattr.generate import generate_rules
from ccattr.io import read_json, read_jsonl, write_json, write_jsonl
from ccattr.metrics import Embedder, score_rules
from ccattr.models import load_finetuned, pick_device, pick_dtype
from ccattr.prompts import PromptTemplate
from ccattr.rules import is_valid_rule
from ccattr.runtime import BASE_DIR, EVAL_DIR, FINETUNED_DIR, VALIDATED_DIR, init_stage


def main(strategy: str, scale: str) -> None:
    name = f"{strategy}-{scale}"
    params = init_stage(f"evaluate@{name}")
    tracking.setup(params.tracking)
    run = read_json(FINETUNED_DIR / name / "run.json")
    test = read_jsonl(VALIDATED_DIR / "test.jsonl")[: params.corpus.max_test]
    device = pick_device()
    model, tok = load_finetuned(strategy, params.strategies[strategy], BASE_DIR / scale, FINETUNED_DIR / name,
                                pick_dtype(params.training.dtype, device), device)
    template = PromptTemplate(tok, params.prompt.system, params.prompt.instruction)
    predictions = generate_rules(model, template, [r["clause"] for r in test],
                                 params.generation.max_new_tokens, params.generation.batch_size,
                                 params.generation.min_new_tokens)
    rules = [p.strip() for p in predictions]  # scored without surrounding whitespace
    scores = score_rules(rules, [r["rule"] for r in test], Embedder(params.evaluation.embedder_package))
    rows = [{"id": r["id"], "clause": r["clause"], "reference": r["rule"], "prediction": p,
             "parses": is_valid_rule(p.strip()), **{k: v[i] for k, v in scores.items()}}
            for i, (r, p) in enumerate(zip(test, predictions, strict=True))]
    n = len(rows)
    metrics = {"strategy": strategy, "scale": scale, "n_params": run["n_params"], "run_id": run["run_id"], "n": n,
               "similarity": sum(r["similarity"] for r in rows) / n,
               "exact_match": sum(r["exact_match"] for r in rows) / n,
               "edit_distance": sum(r["edit_distance"] for r in rows) / n,
               "parse_rate": sum(r["parses"] for r in rows) / n}
    out = EVAL_DIR / name
    write_jsonl(out / "predictions.jsonl", rows)
    write_json(out / "metrics.json", metrics)
    with tracking.start_run(run_id=run["run_id"], stage="evaluate"):
        mlflow.log_metrics({f"eval_{k}": metrics[k] for k in ("similarity", "exact_match", "edit_distance",
                                                               "parse_rate")})
        mlflow.log_artifacts(str(out), artifact_path="eval")
    print(f"{name}: similarity {metrics['similarity']:.3f}, exact {metrics['exact_match']:.2f}, "
          f"parse rate {metrics['parse_rate']:.2f} over {n} clauses")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
