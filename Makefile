# callsync. `make dev` runs the whole system on this machine; `make test` runs every check
# and test (installing what they need first).

SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv
DEV_JWT_SECRET ?= callsync-dev-secret
export DEV_JWT_SECRET

.PHONY: dev token test venv fmt lint build deploy bench web web-test schemathesis

## Run every function on the embedded backend (SQLite + files + local queue) on PORT (8787),
## with the Import Hub at / (built first when web/dist is missing or stale) and, unless real
## provider settings are given (or DEMO=0), demo providers.
dev:
	@scripts/web.sh build || echo "web: the Import Hub could not be built (see above); the API runs without it"
	$(CARGO) run -p dev-server

## Build the Import Hub into web/dist (npm ci first when needed).
web:
	@scripts/web.sh build

## The Import Hub's checks: lint, typecheck, unit tests, browser end-to-end tests.
web-test:
	@scripts/web.sh test

## Print a bearer token for the dev server: make token USER_ID=alice, or for a member of a
## team workspace: make token USER_ID=ann WORKSPACE=acme ROLE=admin
USER_ID ?= alice
token:
	@$(CARGO) run -q -p dev-server -- token --user $(USER_ID) \
		$(if $(WORKSPACE),--workspace $(WORKSPACE)) $(if $(ROLE),--role $(ROLE))

## The project's Python tools (moto server, cfn-lint, ...) in .venv, installed idempotently.
venv:
	@scripts/venv.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p cron-sync --bin cron-sync -- -D warnings

test: venv lint
	$(CARGO) test --workspace
	@scripts/schemathesis.sh
	$(VENV)/bin/cfn-lint infra/template.yaml
	@$(MAKE) --no-print-directory web-test

## The API contract (openapi/openapi.yaml) against the dev server: Schemathesis with and without
## a bearer token, a few minutes at most (README, "API contract").
schemathesis: venv
	@scripts/schemathesis.sh

## Release builds of every function for Lambda with cargo-lambda (target/lambda/<fn>/bootstrap):
## arm64 when rustup has the aarch64-unknown-linux-gnu target, this host's architecture otherwise.
build: venv
	@scripts/build-functions.sh

## Build with SAM and deploy with a guided first run (needs the sam CLI and AWS credentials),
## fill the stack's secret, then upload the Import Hub with its config.json. See README, "Deploy".
STACK ?= callsync
## sam build runs cargo-lambda itself, so the Lambda compiler flags (.cargo/lambda.toml) reach it
## through the environment.
deploy: venv
	CARGO_BUILD_RUSTFLAGS="$$(sed -n 's/^rustflags = \[\(.*\)\]$$/\1/p' .cargo/lambda.toml | tr -d '",')" \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" sam build --beta-features --template-file infra/template.yaml
	sam deploy --guided --stack-name $(STACK) --capabilities CAPABILITY_IAM
	$(VENV)/bin/python scripts/put_secrets.py --stack $(STACK)
	@scripts/web.sh build
	$(VENV)/bin/python scripts/deploy_web.py --stack $(STACK)

## Run one function with its sample event on the embedded backend: make invoke-sources
invoke-%: venv
	@scripts/invoke.sh $*

## Benchmarks, which print and never fail: binary sizes and cold starts of every function,
## then the Fathom sync against its rate-limit floor, the hourly fan-out and scheduled sync,
## webhook throughput, outbound webhooks' delay and throughput, and the memory and speed of
## transcribing a 200 MB upload.
## The Lambda binaries are built one cargo invocation per function (cargo unifies features within
## an invocation), a no-op when they are up to date. The in-process benchmarks are built in one
## invocation (perf profile, one feature set), then run as built instead of through `cargo run`,
## which would resolve features per package.
PERF_BENCHES := -p system-tests --bin bench-sync --bin bench-schedule --bin bench-webhook \
	--bin bench-outbound \
	-p file-transcribe --features file-transcribe/testing --example bench-upload
bench: venv
	$(CARGO) run -q -p bench
	$(CARGO) build -q --profile perf $(PERF_BENCHES)
	@perf="$$($(CARGO) metadata -q --format-version 1 --no-deps \
		| sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/perf" && \
		"$$perf/bench-sync" && "$$perf/bench-schedule" && "$$perf/bench-webhook" && \
		"$$perf/bench-outbound" && "$$perf/examples/bench-upload"
