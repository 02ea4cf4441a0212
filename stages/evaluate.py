"""DVC stage evaluate@<strategy>-<scale>: generate a rule for every test clause and score it."""

import sys

import mlflow

from ccattr import tracking
from ccattr.generate import generate
from ccattr.io import read_json, read_jsonl, write_json, write_jsonl
from ccattr.metrics import Embedder, score_rules, summarize
from ccattr.models import load_finetuned, pick_device
from ccattr.precision import resolve
from ccattr.prompts import PromptTemplate
from ccattr.runtime import (
    BASE_DIR,
    EVAL_DIR,
    FINETUNED_DIR,
    METRICS_FILE,
    PREDICTIONS_FILE,
    RUN_INFO_FILE,
    VALIDATED_TEST,
    first_work,
    init_stage,
)


def main(strategy: str, scale: str) -> None:
    name = f"{strategy}-{scale}"
    params = init_stage(f"evaluate@{name}")
    tracking.setup(params.tracking)
    run = read_json(FINETUNED_DIR / name / RUN_INFO_FILE)
    test = read_jsonl(VALIDATED_TEST)[: params.corpus.max_test]
    device = pick_device()
    precision = resolve(params.generation.precision, device)
    model, tok = load_finetuned(strategy, params.strategies[strategy], BASE_DIR / scale, FINETUNED_DIR / name,
                                precision, device)
    template = PromptTemplate(tok, params.prompt.system, params.prompt.instruction)
    first_work(f"evaluate@{name}")
    generated = generate(model, template, [r["clause"] for r in test], params.generation.max_new_tokens,
                         params.generation.batch_size, params.generation.min_new_tokens, precision)
    rules = [g.text.strip() for g in generated]  # scored without surrounding whitespace
    references = [r["rule"] for r in test]
    names = [r.get("notation", params.corpus.notation) for r in test]
    scores = score_rules(rules, references, Embedder(params.evaluation.embedder_package), names)
    rows = [{"id": r["id"], "clause": r["clause"], "reference": r["rule"], "prediction": g.text,
             "notation": nota, "stopped": g.stopped, **sc}
            for r, g, nota, sc in zip(test, generated, names, scores, strict=True)]
    n = len(rows)
    metrics = {"strategy": strategy, "scale": scale, "n_params": run["n_params"], "family": run.get("family"),
               "run_id": run["run_id"],
               **summarize(scores, rules, references, names),
               "n_cut_at_max_new_tokens": sum(not g.stopped for g in generated)}
    out = EVAL_DIR / name
    write_jsonl(out / PREDICTIONS_FILE, rows)
    write_json(out / METRICS_FILE, metrics)
    with tracking.start_run(run_id=run["run_id"], stage="evaluate",
                            tags={"notation": metrics["notation"], **precision.tags("generation")}):
        mlflow.log_metrics({f"eval_{k}": metrics[k] for k in (
            "similarity", "exact_match", "edit_distance", "parse_rate", "lrml_precision", "lrml_recall",
            "lrml_f_score", "corpus_bleu", "n_cut_at_max_new_tokens") if metrics[k] is not None})
        mlflow.log_artifacts(str(out), artifact_path="eval")
    fmt = lambda v, spec: "n/a" if v is None else format(v, spec)  # noqa: E731
    print(f"{name} ({metrics['notation']}): similarity {fmt(metrics['similarity'], '.3f')}, "
          f"exact {fmt(metrics['exact_match'], '.2f')}, parse rate {fmt(metrics['parse_rate'], '.2f')}, "
          f"LRML F {fmt(metrics['lrml_f_score'], '.1f')}, BLEU {fmt(metrics['corpus_bleu'], '.1f')} "
          f"over {n} clauses ({metrics['n_cut_at_max_new_tokens']} cut at max_new_tokens)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
