# The README's two commands: `make demo` (set up, then translate with the shipped/example model) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup browser speech-tools demo test bench clean

setup: $(VENV)/.installed

# torch/torchvision are pinned here to the wheels on this machine's disk; pyproject.toml keeps a range.
# Every extra the tests need: serve (FastAPI, uvicorn), report (matplotlib), test (pytest, httpx, playwright).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e ".[serve,report,test]"
	touch $@

demo: setup
	bash scripts/demo.sh

# lint-imports: the package's layers and no import circles (the contracts in pyproject.toml), then the suite.
test: setup browser speech-tools
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

# Debian's Chromium for the browser test (Playwright drives /usr/bin/chromium; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq chromium >/dev/null; } || echo "chromium could not be installed: browser test skipped"

# Debian's sphinxbase-utils (CMU's sphinx_fe) and espeak-ng: tests/data/test_audio.py checks our speech features against
# sphinx_fe's, on speech espeak-ng says; without them those tests skip.
speech-tools:
	@{ command -v sphinx_fe && command -v espeak-ng; } >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sphinxbase-utils espeak-ng >/dev/null; } || \
	  echo "sphinxbase-utils/espeak-ng could not be installed: the sphinx_fe comparison tests skipped"

bench: setup
	$(BIN)/python bench/speed.py

clean:
	rm -rf runs .pytest_cache
