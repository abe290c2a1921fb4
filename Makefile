# One command sets everything up and opens the course; one command runs the tests.
#   make lab     create .venv, install the course, fill the binary cache, start the cluster, open JupyterLab
#   make test    lint, type-check and run the test suite (it starts and stops its own sim cluster)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup lab test release bench bench-class down

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed
	$(PY) -m course toolchain

lab: setup
	$(PY) -m course lab

test: setup
	$(PY) -m ruff check course tests bench autograder/nbgrader_config.py
	$(PY) -m mypy
	$(PY) -m pytest

release: setup
	$(PY) -m course release

bench: setup
	$(PY) bench/cluster.py

bench-class: setup
	$(PY) bench/class_grading.py

down: setup
	$(PY) -m course cluster down
