# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint format messages bench fuzz soak clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

## Install, migrate, set up the support structure (and demo data on an empty database), start
## web, worker, beat and mail; Ctrl-C stops everything.
run: $(INSTALLED)
	$(BIN)/python -m helpdesk.run

## Install, lint, check migrations, run the tests (against DATABASE_URL/REDIS_URL when set),
## in TEST_PROCESSES processes (pytest-xdist; the tests wait on the database and Redis more
## than on the CPU, so 3 beat 2 even on two cores). TEST_PROCESSES=0 runs them in this one.
TEST_PROCESSES ?= 3
test: $(INSTALLED) lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Rebuild the translation catalogs (needs GNU gettext; the compiled .mo files are committed).
messages: $(INSTALLED)
	$(BIN)/python manage.py makemessages -l it --ignore=.venv --ignore=var
	$(BIN)/python manage.py makemessages -d djangojs -l it --ignore=.venv --ignore=var --ignore=staticfiles
	$(BIN)/python manage.py compilemessages --ignore=.venv

## Benchmarks (bench/RESULTS.md) on PostgreSQL and Redis at 127.0.0.1: each creates and drops
## its own database hd_bench_<name>. A few minutes; BENCH_ARGS="--name me --redis-db 5".
bench: $(INSTALLED)
	$(BIN)/python -m bench.tickets_create $(BENCH_ARGS)
	$(BIN)/python -m bench.lists $(BENCH_ARGS)
	$(BIN)/python -m bench.escalation $(BENCH_ARGS)
	$(BIN)/python -m bench.incidents $(BENCH_ARGS)

## The API fuzzing of tests/fuzz (schemathesis over /api/schema/, as customer, agent and
## manager) with FUZZ_EXAMPLES cases per operation and role; `make test` runs it with 5.
FUZZ_EXAMPLES ?= 200
fuzz: $(INSTALLED)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -n $(TEST_PROCESSES) -m fuzz tests/fuzz $(PYTEST_ARGS)

## Soak (bench/soak.py): web x2, worker and beat under a steady mix at 50 operations/s with
## 500 open chat sockets for 5 minutes, in its own database hd_bench_soak; errors, p99 per
## endpoint, memory per process. SOAK_ARGS="--redis-db 14 --duration 60" shortens it.
SOAK_ARGS ?= --name soak
soak: $(INSTALLED)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) var staticfiles
