# graphc: set-up, demo and tests.  Each target installs what it needs itself:
# a virtualenv in .venv with torch (CPU build) and graphc, and the graphviz
# binary (apt-get, when it is missing and we may install it).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.graphc-installed
TORCH  ?= torch==2.13.0
OUT    ?= out

.PHONY: demo test test-fast _test-passes test-serial setup graphviz chromium vscode-deps vscode lint docs bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)" numpy
	$(PY) -m pip install --quiet -e ".[dev,train,lsp,export]"
	touch $(STAMP)

setup: $(STAMP) graphviz chromium vscode-deps

graphviz:
	@if command -v dot >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing the graphviz binary (apt-get)"; \
		apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; \
	elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then \
		sudo apt-get update -qq && sudo apt-get install -y -qq graphviz >/dev/null; \
	else \
		echo "note: graphviz 'dot' is not installed; diagrams are written as .dot only"; \
	fi

# Headless chromium drives the interactive viz page in tests/test_viz_html.py (skipped without it).
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium (apt-get)"; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then \
		sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "note: chromium is not installed; the browser tests of graphc viz -o X.html are skipped"; \
	fi

# The VS Code extension's npm packages (editors/vscode/node_modules, from its package-lock.json):
# tests/test_lsp_vscode.py runs the grammar tests and a client smoke test with them.  node and npm
# come from apt-get when they are missing and we may install them.
vscode-deps:
	@if ! command -v npm >/dev/null 2>&1; then \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			echo "installing node and npm (apt-get)"; \
			apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; \
		else echo "note: npm is not installed; the VS Code extension's tests are skipped"; fi; \
	fi
	@if command -v npm >/dev/null 2>&1 && ! cmp -s editors/vscode/package-lock.json \
			editors/vscode/node_modules/.graphc-lock; then \
		echo "installing the VS Code extension's npm packages (npm ci)"; \
		(cd editors/vscode && npm ci --no-audit --no-fund --silent) && \
		cp editors/vscode/package-lock.json editors/vscode/node_modules/.graphc-lock; \
	fi

# The extension itself: editors/vscode/graphc.vsix (grammar check, grammar tests, smoke test, vsce).
vscode: setup
	PYTHON=$(abspath $(PY)) editors/vscode/build.sh

# The main job on an embedded default: check every model, then summarise, draw
# and train the digits CNN on scikit-learn's digits (shipped with the package).
demo: setup
	$(VENV)/bin/graphc check models/
	$(VENV)/bin/graphc summary models/digits.model
	@if command -v dot >/dev/null 2>&1; then \
		$(VENV)/bin/graphc viz models/digits.model -o $(OUT)/digits.svg; \
	else $(VENV)/bin/graphc viz models/digits.model -o $(OUT)/digits.dot; fi
	$(VENV)/bin/graphc train models/digits.model --out $(OUT)/digits

# The whole test suite: first every test but the `serial` ones on every core (pytest-xdist, in the
# dev extra), then the `serial` ones (torchrun and gloo processes) alone, so that no other test loads
# the CPUs while their processes wait on each other.  pytest's exit code 5 (no tests collected) is a
# failure in either pass.  `make test` is what CI runs: everything, the `slow` end-to-end tests too.  `make test-fast` is
# the same two passes without the `slow` tests (a wheel built into a fresh venv, signals to
# running trainings, the biggest robustness probes), for a quicker check while you work.
# `make test-serial` runs everything one test at a time (about 12 min).
test: setup
	@$(MAKE) --no-print-directory _test-passes MARK=

test-fast: setup
	@$(MAKE) --no-print-directory _test-passes MARK="not slow and "

_test-passes:
	@$(PY) -m pytest -q -n auto -m "$(MARK)not serial"; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; rc=1; fi; \
	$(PY) -m pytest -q -m "$(MARK)serial"; rc2=$$?; \
	if [ $$rc2 -eq 5 ]; then echo "error: pytest collected no serial tests"; rc2=1; fi; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi; exit $$rc2

test-serial: setup
	$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$rc

# Regenerate docs/layers.md, docs/components.md, docs/tutorial.md and the diagrams in docs/images/.
docs: setup
	$(PY) docs/build.py

# The benchmarks; results in bench/RESULTS.md.
bench: setup
	$(PY) -m bench

lint: setup
	$(PY) -m ruff check graphc tests

clean:
	rm -rf $(VENV) $(OUT) build dist *.egg-info .pytest_cache
