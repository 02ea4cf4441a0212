"""DVC stage ``validate_corpus``: load, split and validate the corpus (params ``corpus``).

Outputs on success: ``data/validated/{train,test}.jsonl`` (the record fields, sorted by id,
after ``max_train``/``max_test``), ``results/validation/summary.json`` (metric) and the Great
Expectations Data Docs in ``reports/validation/``. On malformed input or a failed ``error``
expectation it prints the report to stderr, writes the Data Docs of the failure to
``reports/validation-failed/`` (outside the stage's outputs, so the previous outputs come back
with a plain ``dvc checkout``) and exits 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ccattr.config import ParamsError, load_params
from ccattr.corpus import CorpusError, records
from ccattr.io import atomic_dir, replace_dir, write_json, write_jsonl
from ccattr.runtime import (
    CORPUS_DIRS,
    VALIDATED_DIR,
    VALIDATED_TEST,
    VALIDATED_TRAIN,
    VALIDATION_DOCS,
    VALIDATION_FAILED_DOCS,
    VALIDATION_SUMMARY,
    first_work,
)
from ccattr.validation import print_report, validate_corpus

RESTORE = (f"DVC removed this stage's outputs before running it; `dvc checkout` brings the previous "
           f"{VALIDATED_DIR}/ and {VALIDATION_DOCS}/ back, and `git checkout -- {VALIDATION_SUMMARY}` its "
           f"summary if you committed it")


def main() -> None:
    try:
        params = load_params()
    except ParamsError as err:
        sys.exit(f"validate_corpus: {err}")
    # DVC reruns this stage when the folders it depends on change: corpus files elsewhere would
    # leave stale results behind.
    outside = [p for p, _ in params.corpus.file_notations()
               if not any(Path(p).resolve().is_relative_to(d.resolve()) for d in CORPUS_DIRS)]
    if outside:
        sys.exit(f"validate_corpus: corpus.files {', '.join(outside)} lie outside "
                 f"{' and '.join(map(str, CORPUS_DIRS))}, the folders dvc.yaml makes this stage depend on, "
                 f"so DVC would not notice when they change; import or move them into data/external/")
    try:
        # Data Docs are built aside and moved into place only when the corpus passes.
        first_work("validate_corpus")
        with atomic_dir(VALIDATION_FAILED_DOCS) as docs:
            run = validate_corpus(params.corpus, docs_dir=docs)
    except CorpusError as err:
        print(f"validate_corpus: malformed corpus input:\n{err}\n{RESTORE}.", file=sys.stderr)
        sys.exit(1)
    print_report(run.result)
    if not run.result.success:
        print(f"validate_corpus: {len(run.result.errors)} expectation(s) failed; the failure's Data Docs: "
              f"{VALIDATION_FAILED_DOCS}/index.html. {RESTORE}.", file=sys.stderr)
        sys.exit(1)
    replace_dir(VALIDATION_FAILED_DOCS, VALIDATION_DOCS)
    write_jsonl(VALIDATED_TRAIN, records(run.train))
    write_jsonl(VALIDATED_TEST, records(run.test))
    write_json(VALIDATION_SUMMARY, run.result.summary())
    print(f"validate_corpus: wrote {len(run.train)} train / {len(run.test)} test records to {VALIDATED_DIR}/",
          file=sys.stderr)


if __name__ == "__main__":
    main()
