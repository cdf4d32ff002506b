# aten2onnx. `make demo` and `make test` work from a fresh clone: they create .venv,
# install torch==2.13.0 first (the CPU build) and then the project.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup codegen check-generated test test-slow test-thorough demo docs lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

codegen: setup
	$(PY) -m codegen

check-generated: setup
	$(PY) -m codegen --check

# The default suite leaves out the heavy zoo models (marker `slow`); CI runs them after it.
test: setup
	$(PY) -m pytest -q -m "not slow"

test-slow: setup
	$(PY) -m pytest -q -m slow

test-thorough: setup
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q

demo: setup
	$(VENV)/bin/aten2onnx demo

docs: codegen
	@echo "support matrix: generated/SUPPORT.md"

# ResNet-50, BERT-base, GPT-2, a 1.1B LLaMA-style model and the same decoding with a KV cache against torch.onnx.export(dynamo=True),
# each export in a fresh process; writes docs/benchmarks.{md,png,json}. BENCH_ARGS="--quick" checks the harness.
BENCH_ARGS ?= --profile
.PHONY: bench
bench: setup
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench.run $(BENCH_ARGS)

lint: setup
	$(PY) -m ruff check exporter codegen tests scripts

clean:
	rm -rf $(VENV) model.onnx model.onnx.data build *.egg-info
