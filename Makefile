# Everything installs itself: `make test` and `make demo` work on a fresh machine and are safe to rerun.
#   make test PYTEST_ARGS='-m "not azurite" -x'     pass arguments to pytest
#   TASKHUB_TEST_CONNECTION_STRING=...              run the Azurite tier against other storage

PYTHON := .venv/bin/python
PYTEST_ARGS ?=
AZURITE_CTL := python3 azurite/azurite_ctl.py
MYPY_PACKAGES := $(foreach p,taskhub worker,$(if $(wildcard $(p)/*.py),-p $(p)))

.PHONY: bootstrap test test-py313 lint demo wheel bench azurite-start azurite-stop azurite-wipe clean

bootstrap:
	@scripts/bootstrap

# pytest's exit code 5 means no test ran; that is a failure here, said out loud.
# scripts/browser-tier installs Debian's chromium as root for the dashboard's browser tests
# (TASKHUB_BROWSER_TIER=0 installs nothing and skips them); `make demo` never runs it.
# scripts/js-sdk installs the JavaScript SDK of the sidecar tests (npm ci in tests/js) before pytest starts.
# Two test processes (pytest-xdist); the process tier stays in one of them (tests/conftest.py).
# PYTEST_PARALLEL= runs everything in one process.
PYTEST_PARALLEL ?= -n 2 --dist loadgroup
test: bootstrap
	@scripts/browser-tier
	@scripts/js-sdk
	@rc=0; $(PYTHON) -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: FAILED: pytest collected no tests (exit code 5)" >&2; fi; \
	exit $$rc

# The second Python CI tests (3.13, in .venv-3.13): the pure tier and one end-to-end test of each front
# door (client + worker, `taskhub serve`, `taskhub func start`, the `taskhub` command).
PY313_ARGS ?= -m "not azurite or front_door"
test-py313:
	@py=$$(scripts/find-python 3.13) || exit 1; PYTHON=$$py VENV=.venv-3.13 scripts/bootstrap
	@rc=0; .venv-3.13/bin/python -m pytest $(PY313_ARGS) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-py313: FAILED: pytest collected no tests (exit code 5)" >&2; fi; \
	exit $$rc

# A wheel of this checkout in dist/ (taskhub_durable-VERSION-py3-none-any.whl), to install elsewhere.
# Needs only python3 with pip (no .venv, no Azurite).
wheel:
	@rm -rf build dist/taskhub_durable-*.whl
	@python3 -m pip wheel --disable-pip-version-check --no-deps -q -w dist .
	@rm -rf build
	@ls dist/taskhub_durable-*.whl

# Both linters run even when the first fails, so one run shows everything.
lint: bootstrap
	@rc=0; \
	echo "ruff check ."; .venv/bin/ruff check . || rc=1; \
	echo "mypy $(MYPY_PACKAGES)"; .venv/bin/mypy $(MYPY_PACKAGES) || rc=1; \
	exit $$rc

demo: bootstrap
	@$(AZURITE_CTL) start >/dev/null
	@scripts/demo

# The benchmark starts (and stops) its own Azurite (on disk, in a temporary directory); BENCH_ARGS='--quick --skip-w5' for a smoke run.
BENCH_ARGS ?=
bench: bootstrap
	@$(PYTHON) -m bench $(BENCH_ARGS)

azurite-start:
	@$(AZURITE_CTL) start >/dev/null
	@$(AZURITE_CTL) status

azurite-stop:
	@$(AZURITE_CTL) stop

# Azurite keeps its data in azurite/data (a stop and a start keep every task hub); this deletes it.
azurite-wipe:
	@$(AZURITE_CTL) wipe

clean: azurite-stop
	rm -rf .venv .venv-3.13 build dist azurite/node_modules tests/js/node_modules tests/js/.install.lock azurite/.run azurite/.install.lock *.egg-info .pytest_cache .mypy_cache .ruff_cache
