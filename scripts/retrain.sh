#!/usr/bin/env bash
# Retrain after the rules (data/), params or code changed: validate the corpus first, reproduce
# the pipeline, push models and results to the DVC remote when one is configured, and write a
# Markdown summary (params diff, metrics diff against the base revision, key findings).
#
#   scripts/retrain.sh [--base REV] [--summary FILE] [--commit]
#
#   --base REV      revision to diff against (default: $RETRAIN_BASE, else HEAD)
#   --summary FILE  where the Markdown summary goes (default: retrain-summary.md)
#   --commit        commit dvc.lock and the small metrics/plots files after a successful run
#
# Exit status: 1 when the corpus fails validation (the summary says why), else dvc's own.
# MLFLOW_TRACKING_URI, when set, sends every run to that server (checked before any training).
set -euo pipefail

BASE="${RETRAIN_BASE:-HEAD}"
SUMMARY="retrain-summary.md"
COMMIT=0
while [ $# -gt 0 ]; do
  case "$1" in
    --base) BASE="$2"; shift 2 ;;
    --summary) SUMMARY="$2"; shift 2 ;;
    --commit) COMMIT=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "retrain.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# Use the project's virtual environment when there is one (make setup creates it).
if [ -x .venv/bin/dvc ]; then PATH="$PWD/.venv/bin:$PATH"; fi

# A warm interpreter (ccattr.zygote) imports torch & co. once and forks each stage from it
# (stages reach it through `python stages/launch.py`; without it they start plain python).
export CCATTR_ZYGOTE="${TMPDIR:-/tmp}/ccattr-zygote-$$.sock"
python -m ccattr.zygote serve --socket "$CCATTR_ZYGOTE" --idle-timeout 3600 &
ZYGOTE_PID=$!
trap 'kill "$ZYGOTE_PID" 2>/dev/null || true' EXIT

section() { printf '\n## %s\n\n' "$1" >> "$SUMMARY"; }
{
  echo "# ccattr retraining"
  echo
  echo "- commit: \`$(git rev-parse --short HEAD 2>/dev/null || echo none)\`, compared with \`$BASE\`"
  echo "- tracking: \`$(python -c 'import os,re; u=os.environ.get("MLFLOW_TRACKING_URI","params.yaml tracking.uri"); print(re.sub(r"://[^/@]+@","://***@",u))')\`"
} > "$SUMMARY"

section "Corpus validation"
if ! dvc repro validate_corpus > .retrain-validate.log 2>&1; then
  { echo "The corpus failed validation; nothing was retrained."; echo; echo '```'
    tail -n 40 .retrain-validate.log; echo '```'; } >> "$SUMMARY"
  cat .retrain-validate.log >&2
  rm -f .retrain-validate.log
  exit 1
fi
rm -f .retrain-validate.log
python - >> "$SUMMARY" <<'PY'
import json
s = json.load(open("results/validation/summary.json"))
print(f"Passed with {s['n_errors']} errors and {s['n_warnings']} warnings over "
      f"{len(s['expectations'])} expectations: {s.get('n_train')} train / {s.get('n_test')} test pairs.")
PY

dvc repro

# Push to the default DVC remote, if one is set (`dvc remote add -d ...`).
REMOTE="$(dvc remote default 2>/dev/null)" || REMOTE=""
if [ -n "$REMOTE" ]; then
  dvc push
  section "DVC remote"
  echo "Pushed models and results to \`$REMOTE\`." >> "$SUMMARY"
fi

section "Params changed (dvc params diff $BASE)"
dvc params diff "$BASE" --md >> "$SUMMARY" 2>&1 || echo "(no params diff: $BASE not found)" >> "$SUMMARY"
section "Metrics (dvc metrics diff $BASE)"
dvc metrics diff "$BASE" --md >> "$SUMMARY" 2>&1 || echo "(no metrics diff: $BASE not found)" >> "$SUMMARY"
section "Key findings"
python -m ccattr.cli report findings results/compare/summary.json >> "$SUMMARY"

if [ "$COMMIT" = 1 ]; then
  git add dvc.lock $(git ls-files --others --modified --exclude-standard -- results reports '*.gitignore')
  git commit -qm "retrain: dvc.lock and metrics" && echo "committed dvc.lock and metrics"
fi
echo "summary: $SUMMARY"
