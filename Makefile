# Guarantor: the two commands a new machine needs are `make run` and `make test`.
# Everything else here is a step of those two.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Modules with code of our own (tools only pins build tools).
MODULES := gen/go platform services/events services/guarantees services/gateway cmd/guarantor
BIN := $(CURDIR)/bin
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(BIN)/golangci-lint
BUF := go tool buf
# `make test` runs every fuzz target this long; `make fuzz FUZZTIME=5m` for real fuzzing.
FUZZTIME ?= 5s
# -race roughly doubles test time; CI has the time, so it stays on.
GOTEST_FLAGS ?= -race -count=1 -timeout=15m

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: run
run: ## Build and run the whole suite on its embedded defaults (NATS, SQLite) under ./data.
	go run ./cmd/guarantor dev $(RUN_ARGS)

.PHONY: test
test: proto-check generate-check vet lint gotest deploy-test fuzz ## Everything CI checks.

.PHONY: generate
generate: ## Regenerate gen/go from proto/ (offline, local plugins).
	rm -rf gen/go/guarantor
	$(BUF) generate

.PHONY: generate-check
generate-check: ## Fail when gen/go differs from what proto/ generates (and show that check can fail).
	scripts/check-generated.sh
	scripts/check-generated-selftest.sh

.PHONY: proto-check
proto-check: ## buf lint, buf format and buf breaking against the previous commit.
	$(BUF) lint
	$(BUF) format --diff --exit-code
	scripts/buf-breaking.sh

.PHONY: vet
vet: ## go vet and gofmt on every module.
	@for m in $(MODULES); do echo "go vet $$m"; (cd $$m && go vet ./...); done
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

$(GOLANGCI_LINT):
	GOBIN=$(BIN) GOWORK=off go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint (curated set in .golangci.yml) on every module.
	@for m in $(MODULES); do echo "golangci-lint $$m"; (cd $$m && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...); done
	@echo "golangci-lint deploy"; cd deploy && GOWORK=off $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...

.PHONY: gotest
gotest: ## Unit and integration tests (real NATS embedded, real PostgreSQL) with -race.
	@for m in $(MODULES); do echo "go test $$m"; (cd $$m && go test $(GOTEST_FLAGS) ./...); done

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME.
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh $(MODULES)

.PHONY: stress
stress: ## Run every test many times (-race, GOMAXPROCS 1 and 2) to find flaky ones (STRESS_COUNT, STRESS_RUN; long).
	scripts/stress.sh

.PHONY: bench
bench: ## Run the benchmarks recorded in docs/benchmarks.md (long: see the scripts).
	scripts/bench-events.sh

.PHONY: bench-goals
bench-goals: ## Measure every performance goal and print the table (GOALS_LIST=off skips the 1M-event List).
	scripts/bench-goals.sh

.PHONY: tidy
tidy: ## go mod tidy in every module.
	@for m in $(MODULES) tools deploy; do (cd $$m && GOWORK=off go mod tidy); done

# --- Deployment: deploy/ is its own module, kept out of go.work so that its Kubernetes
# dependencies never enter the services' build list (hence GOWORK=off). ---

IMAGE_REPO ?= guarantor
IMAGE_TAG ?= dev
IMAGE_ARCH ?= $(shell go env GOARCH)

.PHONY: images
images: ## Image tarballs in dist/images/ without a Docker engine (IMAGE_REPO, IMAGE_TAG, IMAGE_ARCH).
	cd deploy && SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || echo 0) GOWORK=off go run ./cmd/mkimage \
	  --out $(CURDIR)/dist/images --repo $(IMAGE_REPO) --tag $(IMAGE_TAG) --arch $(IMAGE_ARCH) \
	  --revision $$(git rev-parse HEAD 2>/dev/null || echo unknown)

.PHONY: deploy-test
deploy-test: ## Kubernetes manifests, images and the two-replica test (the deploy module, offline).
	cd deploy && GOWORK=off go vet ./... && GOWORK=off go test $(GOTEST_FLAGS) ./...
