# youthdesk — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install bot mongoeco system-deps run test test-quick fuzz lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "youthdesk needs Python >= 3.11 (found: $$($(PYTHON) --version))"; exit 1; }
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@echo "==> installing youthdesk into $(VENV)"
	@$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## The Rasa bot: its Python 3.10 virtualenv (about 3 minutes the first time) and the trained model.
bot: install
	$(BIN)/youthdesk bot install
	$(BIN)/youthdesk bot train

## A MongoDB-wire server for the several-gateways test and bench: mongoeco in its own Python 3.13
## virtualenv (.youthdesk/venv-mongoeco, from PyPI); stops with the reason if it cannot be installed.
mongoeco: install
	$(BIN)/python -m tests.wire_store

## Chromium, Redis and CJK fonts for the full suite: installed with apt-get as root, else a clear error.
system-deps:
	@.ci/system-deps

## Start everything on the durable embedded store (data in .youthdesk/, path printed on start) and
## print the URLs (Rasa is installed and trained on the way; if that fails the gateway still starts,
## with every conversation going to a human).
run: install
	$(BIN)/youthdesk run

## Lint and the whole test suite (browser and Rasa tests included).
test: install system-deps bot mongoeco
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

## The suite without the slow real-browser and Rasa tests.
test-quick: install
	$(BIN)/ruff check .
	$(BIN)/pytest -m "not browser and not rasa"

## The fuzz suite alone, longer: FUZZ_EXAMPLES inputs per target, fresh seeds (CI runs 400, fixed seeds).
fuzz: install
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-5000} FUZZ_RANDOM=1 $(BIN)/pytest -q tests/fuzz

lint: install
	$(BIN)/ruff check .

## Benchmarks: prints figures, asserts nothing.
bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
