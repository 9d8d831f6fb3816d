# The README's commands. Everything runs in .venv, which is created and
# filled on first use and refreshed when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rnnkit-installed
PYTEST_ARGS ?=

# Enough of a model to write recognisable words (validation 1.67 nats/char) after about two and a
# half minutes of training on two cores.
DEMO_SETTINGS = --epochs 15 --set num_layers=1 --set units=384 --set batch_size=64 --set max_chars=500000

.PHONY: venv demo test bench lint clean

# When this make started, so that `make demo` can say how long all of it took, set-up included.
STARTED := $(shell date +%s)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "rnnkit needs Python 3.11 or newer: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	rm -rf runs/demo
	$(BIN)/rnnkit textgen train --data demo --out runs/demo $(DEMO_SETTINGS) --sample-length 0
	$(BIN)/rnnkit textgen generate --model runs/demo --prime "Return the " --length 400 --temperature 0.7 --seed 7
	$(BIN)/rnnkit textgen export --model runs/demo --to saved_models
	@elapsed=$$(( $$(date +%s) - $(STARTED) )); \
	echo "make demo: done in $$((elapsed / 60)) min $$((elapsed % 60)) s (set-up included)"

# pytest exits 5 when a selection (PYTEST_ARGS="-k ...") matches no test; that is not a failure.
test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest: no tests matched the selection"; exit 0; fi; exit $$status

bench: $(STAMP)
	$(BIN)/python -m bench.textgen_sampling
	$(BIN)/python -m bench.captioning_beam
	$(BIN)/python -m bench.video_pipeline
	$(BIN)/python -m bench.speech_tflite
	$(BIN)/python -m bench.sentiment_batching
	$(BIN)/python -m bench.sentiment_latency

lint: $(STAMP)
	$(BIN)/ruff check rnnkit apps tests bench

clean:
	rm -rf runs .pytest_cache
