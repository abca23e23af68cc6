# Everything installs itself: `make test` and `make demo` work on a fresh machine and are safe to rerun.
#   make test PYTEST_ARGS='-m "not azurite" -x'     pass arguments to pytest
#   TASKHUB_TEST_CONNECTION_STRING=...              run the Azurite tier against other storage

PYTHON := .venv/bin/python
PYTEST_ARGS ?=
AZURITE_CTL := python3 azurite/azurite_ctl.py
MYPY_PACKAGES := $(foreach p,taskhub worker,$(if $(wildcard $(p)/*.py),-p $(p)))

.PHONY: bootstrap test lint demo bench azurite-start azurite-stop azurite-wipe clean

bootstrap:
	@scripts/bootstrap

# pytest's exit code 5 means no test ran; that is a failure here, said out loud.
test: bootstrap
	@rc=0; $(PYTHON) -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: FAILED: pytest collected no tests (exit code 5)" >&2; fi; \
	exit $$rc

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
	rm -rf .venv azurite/node_modules azurite/.run azurite/.install.lock *.egg-info .pytest_cache .mypy_cache .ruff_cache
