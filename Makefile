# The two commands: `make demo` (main job) and `make test` (whole suite).
# Both create .venv/ and install the project into it when needed, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv bench model clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m edge.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks decision --json
	$(BIN)/python -m benchmarks store --json

# The plate recogniser from the shared crops: pack, train, export to OpenVINO IR, INT8 where accuracy
# holds (edge/plate/training/build.py). Meant for a GPU machine; CROPS names another manifest, and
# TRAIN_ARGS go to the trainer (e.g. TRAIN_ARGS='--max-steps 1200 --minutes 50 --workers 1' on a CPU).
CROPS ?= ../shared/datasets/vn-plate-crops/manifest.csv
model: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[train]'
	$(BIN)/python -m edge.plate.training.build $(CROPS) $(TRAIN_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
