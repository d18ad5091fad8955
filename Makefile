# sccnb -- set-up, tests, and one file target per paper table/figure.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules

VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test
## setup: create .venv and install the pinned requirements and the package (editable)
setup:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .

## test: run the test suite
test:
	$(PY) -m pytest
