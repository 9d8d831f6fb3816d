# The README's commands. Everything runs in .venv, which is created and
# filled on first use and refreshed when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rnnkit-installed
PYTEST_ARGS ?=

# Enough of a model to write recognisable words (validation 1.62 nats/char) after about two and a
# half minutes of training on two cores.
DEMO_SETTINGS = --epochs 15 --set num_layers=1 --set units=384 --set batch_size=64 --set max_chars=500000

.PHONY: venv demo test bench bench-real lint clean

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
# -n auto runs one pytest worker per core (pytest-xdist); --dist loadfile keeps a file's tests, and
# the trained runs its fixtures share, on one worker. --durations lists the slowest tests, to watch
# the suite's 20-minute budget.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile --durations=15 $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest: no tests matched the selection"; exit 0; fi; exit $$status

# Speed benchmarks that run offline on the demo sets (each trains the small run it needs).
bench: $(STAMP)
	$(BIN)/python -m bench.textgen_sampling
	$(BIN)/python -m bench.captioning_beam
	$(BIN)/python -m bench.video_pipeline
	$(BIN)/python -m bench.speech_tflite
	$(BIN)/python -m bench.sentiment_batching
	$(BIN)/python -m bench.sentiment_latency
	$(BIN)/python -m bench.forecast_tflite

# The real-data results of BENCHMARKS.md: needs ../shared/data and ../shared/weights (hours on
# two cores). Each command is the one its BENCHMARKS.md section gives.
SHARED ?= ../shared
MOBILENET = $(SHARED)/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5
bench-real: $(STAMP)
	$(BIN)/python -m bench.sentiment_nbsvm --data $(SHARED)/data/aclImdb_train.tar.gz
	$(BIN)/python -m bench.sentiment_ablation --data $(SHARED)/data/aclImdb_train.tar.gz --epochs 2 --seeds 1 --set max_examples=8000
	$(BIN)/python -m bench.captioning_pretrained --data $(SHARED)/data/flickr8k_subset --weights $(MOBILENET)
	$(BIN)/python -m bench.video_ucf101 --data $(SHARED)/data/ucf101_subset --backbone-weights $(MOBILENET)
	$(BIN)/python -m bench.speech_ablation --data $(SHARED)/data/speech_commands_12 --epochs 20
	$(BIN)/python -m bench.forecast_horizons --data $(SHARED)/data/timeseries/ETTh1.csv --seq-len 96 --horizons 96,192,336,720

lint: $(STAMP)
	$(BIN)/ruff check rnnkit apps tests bench

clean:
	rm -rf runs .pytest_cache
