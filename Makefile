# Everything runs from a virtualenv made from the repo's pinned requirements; nothing else is needed.
# `venv` is also the virtualenv Pulumi.yaml tells the Pulumi CLI to use for `pulumi up`.
PYTHON ?= python3
VENV := venv
SCAN_VENV := .venv-scan
BENCH_VENV := .venv-bench
MUTANTS_VENV := .venv-mutants
STACK ?= dev
# make smoke / make benchmark: the endpoint (empty: smoke discovers it from the stack outputs).
URL ?=
ARGS ?=
# make benchmark: guidellm at smoke's default concurrency, so the two are comparable; a sweep
# (BENCH_PROFILE=kind=sweep) runs about 10 strategies of BENCH_SECONDS each.
BENCH_PROFILE ?= kind=concurrent,streams=4
BENCH_SECONDS ?= 120
BENCH_DATA ?= kind=synthetic_text,prompt_tokens=256,output_tokens=128
BENCH_PIP_ARGS ?=
BENCH_ARGS ?=
# make mutants: the source files to mutate, e.g. MODULE=components/operations/autoscaling.py (several: space-separated).
MODULE ?=
# make mutants RETEST=1: only the survivors of the last full run of each module (after adding tests).
RETEST ?=

.PHONY: plan test golden bench smoke benchmark benchmark-url mutants mutants-module clean

$(VENV)/.ready: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(BENCH_VENV)/.ready: requirements-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check $(BENCH_PIP_ARGS) -r requirements-bench.txt
	touch $@

$(MUTANTS_VENV)/.ready: requirements-mutants.txt requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(MUTANTS_VENV)
	$(MUTANTS_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-mutants.txt
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

## make golden [STACK=prod]: write tests/golden/plan-<name>.json again after an intended change
## to what a stack deploys (every stack and variant of tests/snapshot.py without STACK); review the diff
golden: $(VENV)/.ready
	$(VENV)/bin/python tests/snapshot.py $(if $(filter command line,$(origin STACK)),$(STACK))

## make bench: warm `make plan` time against the bare import time of the Pulumi SDKs
bench: $(VENV)/.ready
	$(VENV)/bin/python bench/plan_speed.py --stack $(STACK)

## make smoke [URL=http://127.0.0.1:8080] [STACK=prod] [ARGS="--requests 40 --concurrency 8 --json r.json"]:
## after `pulumi up`, check the model answers and measure TTFT, latency, tokens/s and $ per 1M tokens per tier
# Silent (@), and the URL is handed over as "$$URL" from make's environment (command-line variables
# are exported to recipes), so a password in URL= is never echoed, not even by `make -n smoke`.
SMOKE_CMD = $(VENV)/bin/python -m smoke --stack $(STACK) $(if $(URL),--url "$$URL") $(ARGS)
# Exit status: smoke's own. GNU make turns any failing recipe into its own exit 2, except in question
# mode (-q), where a recipe line marked `+` (run even under -n, -t, -q: manual, "Instead of
# Executing Recipes") that exits 1 makes make exit 1 (GNU make 4.x job.c, reap_children: "0 for
# success, 1 for updating target in question mode, 2 for anything else"). A makefile may add flags
# for its own run through MAKEFLAGS (manual, "Communicating Options to a Sub-make"). So when smoke is
# the only goal (and no -n, -t or -q was asked), make runs in question mode and the smoke line is
# marked `+`: 0 -> 0, 1 -> 1, 2 -> 2 (verified with GNU make 4.3). Question mode skips unmarked
# recipes, so the virtualenv is made by a sub-make without it. See docs/smoke.md, "Exit status".
ifeq ($(strip $(MAKECMDGOALS)),smoke)
ifeq ($(findstring n,$(firstword -$(MAKEFLAGS)))$(findstring t,$(firstword -$(MAKEFLAGS)))$(findstring q,$(firstword -$(MAKEFLAGS))),)
SMOKE_EXACT_STATUS := 1
MAKEFLAGS += -q
endif
endif
ifdef SMOKE_EXACT_STATUS
smoke:
	+@MAKEFLAGS= $(MAKE) -s --no-print-directory PYTHON=$(PYTHON) VENV=$(VENV) $(VENV)/.ready
	+@$(SMOKE_CMD)
else
smoke: $(VENV)/.ready
	@$(SMOKE_CMD)
endif

## make benchmark URL=http://127.0.0.1:8080 [BENCH_PROFILE=kind=sweep]: guidellm's deeper benchmark, optional,
## in its own virtualenv; API_KEY from the environment; results in build/benchmark/guidellm.json
benchmark: benchmark-url $(BENCH_VENV)/.ready
	@mkdir -p build/benchmark
	$(BENCH_VENV)/bin/guidellm run \
	  --backend kind=openai_http,target=$(URL),request_format=/v1/completions$${API_KEY:+,api_key=$$API_KEY} \
	  --profile $(BENCH_PROFILE) --constraint kind=max_duration,seconds=$(BENCH_SECONDS) \
	  --data $(BENCH_DATA) --output kind=json,path=build/benchmark/guidellm.json $(BENCH_ARGS)

# Checked before the (large) benchmark virtualenv is built: guidellm cannot port-forward by itself.
benchmark-url:
	@test -n "$(URL)" || { echo "make benchmark: give URL=http://HOST:PORT (for a ClusterIP service, run the queryCommand's kubectl port-forward first)" >&2; exit 2; }

## make mutants MODULE=components/operations/autoscaling.py [RETEST=1]: mutation testing (mutmut) of the modules named, each
## against only the tests that exercise it; killed/survived per module, survivors in build/mutants/
mutants: mutants-module $(MUTANTS_VENV)/.ready
	$(MUTANTS_VENV)/bin/python tools/mutants.py $(if $(RETEST),--retest) $(MODULE)

# Checked before the mutation virtualenv is built.
mutants-module:
	@test -n "$(MODULE)" || { echo "make mutants: give MODULE=components/operations/autoscaling.py (one or more source files, space-separated)" >&2; exit 2; }

clean:
	rm -rf build mutants $(VENV) $(SCAN_VENV) $(BENCH_VENV) $(MUTANTS_VENV) .pytest_cache .hypothesis
