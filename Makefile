# Set-up and checks. `make test` works on a fresh machine: it installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One worker per test module: the modules that build something once (a demo run's Allure
# report, a Prometheus server scraping demos) build it once. Not loadgroup: with pytest 9.2 its
# xdist_group marks are silently ignored (pytest-dev/pytest-xdist#1386). Four workers on two
# cores: a worker waiting on a browser, a server or a window leaves its core to another
# (bench/README.md: 301-334 s against 358 s with three, back to back). Modules go out heaviest
# first (tests/conftest.py HEAVY_FIRST), not by their number of tests.
PYTEST_ARGS ?= -n 4 --dist loadscope --no-loadscope-reorder

.PHONY: demo test test-fast lint typecheck pytest install chromium prometheus postgres allure-cli allure2-cli bench clean

# The main job: the demo sign-off against the embedded demo target. FAULT=name[=value],...
# breaks the demo (python -m examples.demo_app --help lists the faults). WINDOW=60s watches
# the deployment for that long, re-running the checks every 5 s, with a progress line and a chart.
demo: install chromium prometheus
	$(BIN)/python -m examples.run_demo $(if $(FAULT),--fault=$(FAULT)) $(if $(WINDOW),--window=$(WINDOW))

test: install chromium prometheus postgres allure-cli allure2-cli lint typecheck pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo "install: pytest-deploycheck and its dependencies into $(VENV) (a minute or two the first time)"
	@start=$$(date +%s) \
		&& (test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)) \
		&& $(BIN)/python -m pip install -q --upgrade pip \
		&& $(BIN)/python -m pip install -q -e '.[dev]' \
		&& echo "install: done in $$(( $$(date +%s) - start )) s"
	@touch $@

# Debian's Chromium for the browser checks (Playwright cannot download its own browsers here):
# chromium-headless-shell is what they launch (Playwright's own headless browser, a third of the
# full browser's CPU; bench/README.md), chromium the fallback users most often have.
CHROMIUM_PACKAGES := chromium chromium-headless-shell
chromium:
	@missing=$$(for p in $(CHROMIUM_PACKAGES); do command -v $$p >/dev/null || echo $$p; done); \
	if [ -z "$$missing" ]; then \
		echo "chromium: $$(command -v chromium-headless-shell) (and chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "chromium: installing Debian's" $$missing "with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	elif command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null; then \
		echo "chromium: $$(command -v chromium-headless-shell || command -v chromium) (not root: not installing" $$missing")"; \
	else \
		echo "chromium: not found and not root; browser checks will report 'could not check'"; \
	fi

# Debian's Prometheus for the metrics suite: the demo scrapes itself with it, its tests use it.
prometheus:
	@if command -v prometheus >/dev/null; then \
		echo "prometheus: $$(command -v prometheus)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "prometheus: installing Debian's prometheus with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; \
	else \
		echo "prometheus: not found and not root; the demo runs without metrics, their tests skip"; \
	fi

# Allure 3's report generator from the npm registry, for the HTML report (and its test).
allure-cli: .allure/node_modules/.bin/allure

.allure/node_modules/.bin/allure:
	@if command -v npm >/dev/null; then \
		echo "allure: installing Allure 3 from the npm registry"; \
		npm install --prefix .allure --no-audit --no-fund --silent allure@3; \
	else \
		echo "allure: npm not found; the HTML report test will be skipped"; \
	fi

# Allure 2's generator (npm allure-commandline, on Java): the same results must build with it.
allure2-cli: .allure2/node_modules/.bin/allure

.allure2/node_modules/.bin/allure:
	@if command -v npm >/dev/null && command -v java >/dev/null; then \
		echo "allure 2: installing allure-commandline from the npm registry"; \
		npm install --prefix .allure2 --no-audit --no-fund --silent allure-commandline@2; \
	else \
		echo "allure 2: npm or java not found; the Allure 2 report test will be skipped"; \
	fi

# The server on 127.0.0.1:5432 when there is one (started if installed but stopped);
# otherwise the tests start an embedded PostgreSQL from the pgserver package.
postgres:
	@if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
		echo "postgresql: 127.0.0.1:5432"; \
	elif command -v pg_ctlcluster >/dev/null && [ "$$(id -u)" = 0 ] && [ -d /etc/postgresql ]; then \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | tail -1) main start \
			&& echo "postgresql: started 127.0.0.1:5432" \
			|| echo "postgresql: could not start; tests use an embedded server"; \
	else \
		echo "postgresql: none on 127.0.0.1:5432; tests use an embedded server"; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# With bytecode caches written (PYTHONDONTWRITEBYTECODE unset for the run), each of the suite's
# ~150 Python processes (runs under test, demos, the CLI) loads the project compiled instead of
# compiling it again: ~0.4 s of CPU each (bench/README.md).
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest $(PYTEST_ARGS)

# The run must leave no demo process, temporary data directory or test database behind.
pytest: install
	$(BIN)/python -m tests.leftovers snapshot .leftovers.json
	$(PYTEST)
	$(BIN)/python -m tests.leftovers check .leftovers.json

# The developer loop: everything but the tests marked slow (packaging, HTML reports, the main
# job end to end). CI runs `make test`, all of them.
test-fast: install chromium prometheus postgres lint typecheck
	$(PYTEST) -m "not slow"

bench: install
	for bench in bench/bench_*.py; do $(BIN)/python $$bench || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache dist build deploycheck-signoff.json
