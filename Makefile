# callsync. `make dev` runs the whole system on this machine; `make test` runs every check
# and test (installing what they need first).

SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv
DEV_JWT_SECRET ?= callsync-dev-secret
export DEV_JWT_SECRET

.PHONY: dev token test venv fmt lint

## Run every function on the embedded backend (SQLite + files + local queue) on PORT (8787).
dev:
	$(CARGO) run -p dev-server

## Print a bearer token for the dev server: make token USER_ID=alice
USER_ID ?= alice
token:
	@$(CARGO) run -q -p dev-server -- token --user $(USER_ID)

## The project's Python tools (moto server, cfn-lint, ...) in .venv, installed idempotently.
venv:
	@scripts/venv.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: venv lint
	$(CARGO) test --workspace
