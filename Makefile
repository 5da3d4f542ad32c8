# Everything runs from a virtualenv made from the repo's pinned requirements; nothing else is needed.
# `venv` is also the virtualenv Pulumi.yaml tells the Pulumi CLI to use for `pulumi up`.
PYTHON ?= python3
VENV := venv
SCAN_VENV := .venv-scan
STACK ?= dev

.PHONY: plan test bench clean

$(VENV)/.ready: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(SCAN_VENV)/.ready: requirements-scan.txt
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	touch $@

## make plan [STACK=prod]: what the stack would deploy, rendered under build/plan/<stack>/ and validated
plan: $(VENV)/.ready
	$(VENV)/bin/python -m planner --stack $(STACK)

## make test: the unit tests (Pulumi mocks), the plan's validation and the static scan
test: $(VENV)/.ready $(SCAN_VENV)/.ready
	CHECKOV=$(SCAN_VENV)/bin/checkov $(VENV)/bin/python -m pytest -q

## make bench: warm `make plan` time against the bare import time of the Pulumi SDKs
bench: $(VENV)/.ready
	$(VENV)/bin/python bench/plan_speed.py --stack $(STACK)

clean:
	rm -rf build $(VENV) $(SCAN_VENV) .pytest_cache .hypothesis
