# Slipway — two commands on a fresh machine:
#   make run    install what is missing, build, prepare ./data, serve http://127.0.0.1:3000
#   make test   install what is missing, lint, test on SQLite and PostgreSQL, e2e in Chromium,
#               the image smoke test
# Every step installs or builds only what is missing; see .ci/bootstrap.sh for the tools.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# npm's tailwindcss and wasm-opt (binaryen) first: Debian's binaryen corrupts wasm-bindgen output.
export PATH := $(CURDIR)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
# cargo-leptos sets this for its builds and leptos_config reads it at compile time: setting it
# for every cargo call keeps `cargo test` from rebuilding the Leptos stack after a build.
export LEPTOS_OUTPUT_NAME := slipway
export CARGO_TERM_COLOR ?= always

LOGS := target/test-logs
BIN := target/debug/slipway

.PHONY: help tools build release image image-test run lint test test-sqlite test-postgres e2e api-fuzz clean-data bench-pages bench-pages-postgres bench-streams

help:
	@echo "make run   - build and serve Slipway on http://127.0.0.1:3000 (dev login, ./data)"
	@echo "make test  - lint, Rust tests on SQLite and PostgreSQL, Playwright e2e in Chromium"

tools:
	@bash .ci/bootstrap.sh

# Front end (wasm + Tailwind CSS into target/site) and the server binary, debug profile.
build: tools
	@echo "==> cargo leptos build"
	bash .ci/step.sh build cargo leptos build --split

# The release build (the binary and front end to deploy, precompressed), with the front end's sizes.
release: tools
	cargo leptos build --release --precompress --split
	@python3 .ci/front-size.py target/site/pkg

# The OCI image: the release build on a root filesystem of Debian packages, committed by
# buildah as target/image/slipway.oci.tar (docs/deploying.md). Prints its size.
IMAGE := target/image/slipway.oci.tar
image: release
	bash deploy/image/build.sh target/release/slipway target/release/hash.txt target/site $(IMAGE)

# The smoke test of the image recipe, on an image built from the debug build (`make build`,
# which the browser tests need anyway): the portal run in the image's root filesystem as a
# container runtime would. `make image` then `deploy/image/smoke.sh $(IMAGE)` tests the release one.
image-test: build
	@mkdir -p $(LOGS)
	@echo "==> image smoke test"
	bash deploy/image/build.sh $(BIN) target/debug/hash.txt target/site target/image/smoke.oci.tar
	bash deploy/image/smoke.sh target/image/smoke.oci.tar 2>&1 | tee $(LOGS)/image.log

run: build
	@echo "==> preparing ./data (SQLite database, GitOps repository, sample catalog)"
	$(BIN) init
	@echo "==> serving on http://127.0.0.1:3000 — development login ON (Ctrl-C to stop)"
	exec $(BIN) serve --dev-login

lint: tools
	@echo "==> rustfmt"
	cargo fmt --all --check
	@echo "==> clippy (server + app with ssr)"
	bash .ci/step.sh clippy cargo clippy --workspace --all-targets -- -D warnings
	@echo "==> clippy (app with hydrate, wasm32)"
	bash .ci/step.sh clippy-wasm cargo clippy -p app --no-default-features --features hydrate --target wasm32-unknown-unknown -- -D warnings

test-sqlite: tools
	@mkdir -p $(LOGS)
	@echo "==> Rust tests on SQLite"
	SLIPWAY_TEST_DB_USERS=$(CURDIR)/$(LOGS)/db-users cargo test --workspace 2>&1 | tee $(LOGS)/sqlite.log

test-postgres: tools
	@mkdir -p $(LOGS)
	@echo "==> Rust tests on PostgreSQL: the test binaries that opened a database on SQLite"
	users=$$( (ls $(LOGS)/db-users 2>/dev/null || true) | sed 's/^/--test /' | tr '\n' ' '); \
	  .ci/with-postgres.sh cargo test --workspace $${users:---tests} 2>&1 | tee $(LOGS)/postgres.log

e2e: build
	@mkdir -p $(LOGS)
	@echo "==> Playwright end-to-end tests in Chromium"
	@echo "==> building the Kubernetes API test double (a process for the browser tests)"
	bash .ci/step.sh kube-double cargo build -p kube-double --bin kube-double
	SLIPWAY_E2E_PORT=$$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') \
	  SLIPWAY_E2E_KUBE_PORT=$$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') \
	  SLIPWAY_E2E_STAGING_KUBE_PORT=$$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') \
	  SLIPWAY_E2E_IDP_PORT=$$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') \
	  SLIPWAY_E2E_METRICS_PORT=$$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') \
	  PLAYWRIGHT_JSON_OUTPUT_NAME=$(CURDIR)/$(LOGS)/e2e.json \
	  playwright test --config end2end/playwright.config.ts

# The REST API fuzzed against its own OpenAPI document (schemathesis from PyPI, in a venv under
# target/): no 5xx, no answer contradicting the document.
api-fuzz: build
	@mkdir -p $(LOGS)
	@echo "==> REST API fuzzed against its OpenAPI document (schemathesis)"
	bash .ci/api-fuzz.sh $(BIN) 2>&1 | tee $(LOGS)/api-fuzz.log

test: tools
	@rm -rf $(LOGS)
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory build
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres
	$(MAKE) --no-print-directory e2e
	$(MAKE) --no-print-directory api-fuzz
	$(MAKE) --no-print-directory image-test
	@bash .ci/summary.sh

# Pages under load (release build, 50,000 requests, wrk): prints the table of docs/performance.md.
bench-pages: release
	@command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk
	cargo bench -p load-bench --bench pages

# The same on PostgreSQL: a throwaway cluster (.ci/with-postgres.sh), empty at the start.
bench-pages-postgres: release
	@command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk
	.ci/with-postgres.sh bash -c 'SLIPWAY_BENCH_DATABASE_URL=$$SLIPWAY_TEST_DATABASE_URL cargo bench -p load-bench --bench pages'

# Status streams from another process (release build, 50,000 watched objects, 10,000 streams).
bench-streams: release
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); cargo bench -p load-bench --bench streams

clean-data:
	rm -rf data
