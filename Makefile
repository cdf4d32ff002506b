# aten2onnx. `make demo` and `make test` work from a fresh clone: they create .venv,
# install torch==2.13.0 first (the CPU build) and then the project.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup codegen check-generated test test-slow test-thorough test-thorough-slice test-compat demo docs lint typecheck clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

codegen: setup
	$(PY) -m aten2onnx.codegen

check-generated: setup
	$(PY) -m aten2onnx.codegen --check

# The default suite leaves out the heavy zoo models (marker `slow`); CI runs them after it.
test: setup
	$(PY) -m pytest -q -m "not slow"

test-slow: setup
	$(PY) -m pytest -q -m slow

test-thorough: setup
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q

# CI's share of test-thorough: the op tests of one of SLICES slices of the specs, with thorough's
# example count, seeded. The slice is the last commit's day number modulo SLICES, so consecutive days
# of commits walk through every spec and one commit always draws the same slice (SLICE=k overrides).
SLICES ?= 40
SLICE ?= $(shell echo $$(( $$(git log -1 --format=%ct 2>/dev/null || date +%s) / 86400 % $(SLICES) )))
test-thorough-slice: setup
	HYPOTHESIS_PROFILE=rotating OP_SLICE=$(SLICE)/$(SLICES) $(PY) -m pytest -q tests/test_ops.py

# test-compat: the op suite (smaller Hypothesis profile), the runtime tests and codegen's check in
# two more environments: .venv-compat, the lowest versions pyproject.toml declares
# (constraints-lowest.txt: onnxruntime 1.26, onnx 1.21, ...) on the lowest Python it declares (3.11);
# and .venv-newest, the newest releases on the newest Python here. torch 2.13.0 for Pythons other
# than 3.11 is PyPI's CUDA build (2.6 GB with its nvidia-* wheels, a few minutes the first time;
# it runs on the CPU without a GPU).
LOWEST_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.11*/bin/python3) python3.11)
NEWEST_PYTHON ?= $(lastword python3 $(sort $(wildcard $(HOME)/.pyenv/versions/3.1[0-9].*/bin/python3)))
COMPAT_TESTS ?= tests/test_ops.py tests/test_runtime_versions.py tests/test_runtime_passes.py tests/test_graph_builder.py

# $(call compat_env,VENV,PYTHON,PIP_ARGS): create VENV with PYTHON, torch first, then the project
define compat_env
	test -x $(1)/bin/python || $(2) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet $(3) torch==2.13.0
	$(1)/bin/python -m pip install --quiet $(3) -e '.[test]'
	touch $(1)/.installed
endef

# $(call compat_run,VENV): print the versions, check generated/, run the tests
define compat_run
	$(1)/bin/python -c "import sys, onnx, onnxruntime, torch; print('$(1): Python', sys.version.split()[0], \
		'torch', torch.__version__, 'onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__)"
	$(1)/bin/python -m aten2onnx.codegen --check
	HYPOTHESIS_PROFILE=compat $(1)/bin/python -m pytest -q $(COMPAT_TESTS)
endef

.venv-compat/.installed: pyproject.toml constraints-lowest.txt
	$(call compat_env,.venv-compat,$(LOWEST_PYTHON),-c constraints-lowest.txt)

.venv-newest/.installed: pyproject.toml
	$(call compat_env,.venv-newest,$(NEWEST_PYTHON),--upgrade)

test-compat: .venv-compat/.installed .venv-newest/.installed
	$(call compat_run,.venv-compat)
	$(call compat_run,.venv-newest)

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

lint: setup typecheck
	$(PY) -m ruff check exporter codegen tests scripts bench aten2onnx/__init__.py

# mypy on codegen/, exporter/ and generated/ ([tool.mypy] in pyproject.toml); about a minute cold
typecheck: setup
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .venv-compat .venv-newest model.onnx model.onnx.data build *.egg-info
