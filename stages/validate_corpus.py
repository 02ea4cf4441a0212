"""DVC stage ``validate_corpus``: load, split and validate the corpus (params ``corpus``).

Outputs on success: ``data/validated/{train,test}.jsonl`` (the record fields only, sorted by
id, after ``max_train``/``max_test``), ``results/validation/summary.json`` (metric) and the
Great Expectations Data Docs in ``reports/validation/``. On malformed input or a failed
``error`` expectation it prints the report to stderr and exits 1, leaving ``data/validated/``
untouched (the Data Docs are still rebuilt when the corpus could be read, to inspect the failure).
"""

from __future__ import annotations

import sys

from ccattr.config import ParamsError, load_params
from ccattr.corpus import CorpusError, records
from ccattr.io import atomic_dir, write_json, write_jsonl
from ccattr.validation import print_report, validate_corpus

OUT, DOCS, SUMMARY = "data/validated", "reports/validation", "results/validation/summary.json"


def main() -> None:
    try:
        params = load_params()
    except ParamsError as err:
        sys.exit(f"validate_corpus: {err}")
    try:
        with atomic_dir(DOCS) as docs:
            run = validate_corpus(params.corpus, docs_dir=docs)
    except CorpusError as err:
        print(f"validate_corpus: malformed corpus input:\n{err}", file=sys.stderr)
        sys.exit(1)
    print_report(run.result)
    if not run.result.success:
        print(f"validate_corpus: {len(run.result.errors)} expectation(s) failed; {OUT}/ left as it was "
              f"(Data Docs: {DOCS}/index.html)", file=sys.stderr)
        sys.exit(1)
    write_jsonl(f"{OUT}/train.jsonl", records(run.train))
    write_jsonl(f"{OUT}/test.jsonl", records(run.test))
    write_json(SUMMARY, run.result.summary())
    print(f"validate_corpus: wrote {len(run.train)} train / {len(run.test)} test records to {OUT}/",
          file=sys.stderr)


if __name__ == "__main__":
    main()
