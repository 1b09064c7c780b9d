# Two commands: `make run` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
PY := .venv/bin/python
export MAAS_TEST_DATABASE_URL ?= $(shell deploy/local-db url maas_test)

.PHONY: run test setup setup-test db db-stop migrate lint typecheck pytest bench-matrix bench-lilim clean

run: setup db
	$(PY) -m maas db migrate
	$(PY) -m maas ensure-region
	$(PY) -m maas serve

test: setup-test db lint typecheck pytest

setup:
	@deploy/setup-dev

setup-test:
	@deploy/setup-dev --test

db:
	@deploy/local-db start

db-stop:
	@deploy/local-db stop

migrate: setup db
	$(PY) -m maas db migrate

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check maas matching tests bench

typecheck:
	.venv/bin/mypy maas matching tests bench

pytest:
	@deploy/local-db createdb maas_test
	.venv/bin/pytest -q tests

bench-matrix: setup db
	$(PY) bench/matrix.py

bench-lilim: setup
	$(PY) bench/lilim.py

clean: db-stop
	rm -rf var .venv
