# Unigate — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin
TOOLS := $(CURDIR)/.bin
MODULES := proto pkg sdk services deploy

.PHONY: jaeger train-risk all build run demo cluster cluster-stop failover-test chaos test test-short bench bench-micro generate check-generated lint tools clean

all: build

## build: bin/unigate and bin/unigatectl
build:
	$(GO) build -o $(BIN)/unigate ./services/cmd/unigate
	$(GO) build -o $(BIN)/unigatectl ./services/cmd/unigatectl

## run: the whole switch on embedded etcd and SQLite, a demo payment, then serve until Ctrl-C
run: build
	$(BIN)/unigate dev --data-dir .data

## demo: the same demo on fresh data and free ports; exits 0 only if every step succeeded
demo: build
	@d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; $(BIN)/unigate dev --data-dir "$$d" --base-port 0 --exit-after-demo

## cluster: every part of the switch as its own process, with replicas, on PostgreSQL (docs/cluster.md)
CLUSTER_DIR   ?= .cluster
CLUSTER_FLAGS ?=
cluster: build
	$(BIN)/unigate cluster --dir $(CLUSTER_DIR) $(CLUSTER_FLAGS)

## cluster-stop: stop the cluster running in CLUSTER_DIR; fails if a process or a port is left
cluster-stop:
	$(BIN)/unigate cluster --dir $(CLUSTER_DIR) --stop

FAILOVER_DIR ?= .cluster-failover
## failover-test: start a cluster of processes, measure failover (20 trials of each kind: leader stopped,
## killed, paused; a stateless replica killed under load), stop the cluster; fails if a target is missed
failover-test: build
	@rm -rf $(FAILOVER_DIR); $(BIN)/unigate cluster --dir $(FAILOVER_DIR) --base-port 7200 > $(FAILOVER_DIR).log 2>&1 & \
	$(BIN)/unigate failover-test --dir $(FAILOVER_DIR) $(FAILOVER_FLAGS); status=$$?; \
	$(BIN)/unigate cluster --dir $(FAILOVER_DIR) --stop; exit $$status

CHAOS_DIR      ?= .cluster-chaos
CHAOS_DURATION ?= 2m
CHAOS_FLAGS    ?=
# its own database, so that a chaos run and another cluster never drop each other's
CHAOS_DSN      ?= postgres://postgres@127.0.0.1:5432/unigate_chaos?sslmode=disable
## chaos: start a cluster of processes, pay, refund and cancel through it for CHAOS_DURATION while killing and
## pausing its parts, then check every invariant (docs/chaos.md), stop the cluster; fails on any violation
chaos: build
	@$(BIN)/unigate cluster --dir $(CHAOS_DIR) --stop >/dev/null 2>&1; rm -rf $(CHAOS_DIR); $(BIN)/unigate cluster --dir $(CHAOS_DIR) --base-port 7400 --dsn '$(CHAOS_DSN)' > $(CHAOS_DIR).log 2>&1 & \
	CHAOS_DURATION=$(CHAOS_DURATION) $(BIN)/unigate chaos --dir $(CHAOS_DIR) --dsn '$(CHAOS_DSN)' $(CHAOS_FLAGS); status=$$?; \
	$(BIN)/unigate cluster --dir $(CHAOS_DIR) --stop; exit $$status

## test: every module's tests; the database-backed ones need PostgreSQL (see README); the trace test
## (services/cmd/unigate) runs the Jaeger built here, the quick benchmark the ghz built here
test: $(TOOLS)/jaeger $(TOOLS)/ghz
	@set -e; for m in $(MODULES); do echo "== $$m"; (cd $$m && UNIGATE_JAEGER_BIN=$(TOOLS)/jaeger UNIGATE_GHZ_BIN=$(TOOLS)/ghz $(GO) test -count=1 ./...); done

BENCH_FLAGS ?=
## bench: start a cluster of processes on its own database (unigate_bench) and ports (7600…), pay through it
## in a closed loop and open loops, against a no-op gRPC call, pgbench and ghz, with the services' CPU
## profiles; report in .bench/<date-time>/report.txt (docs/BENCHMARKS.md); fails on any error or ledger violation
bench: build $(TOOLS)/ghz
	$(BIN)/unigate bench --ghz $(TOOLS)/ghz $(BENCH_FLAGS)

## bench-micro: the in-process Go benchmarks in docs/BENCHMARKS.md
bench-micro:
	cd pkg && $(GO) test -run '^$$' -bench . -benchmem ./emvqr/ ./emvcpm/ ./walletcode/ ./paycode/
	cd services && $(GO) test -run '^$$' -bench . -benchmem -benchtime 3s ./app/

## train-risk: simulate payments, train the risk model with XGBoost (Debian's python3-xgboost) and rewrite
## services/risk/model/testdata (docs/risk-model.md); make run and make test need no Python;
## LABELS=FILE (unigatectl risk labels > FILE) adds analysts' labelled payments to the training split
train-risk:
	LABELS="$(LABELS)" services/risk/model/train.sh

# Jaeger v2 (all in one, in-memory storage), built from the Go module proxy at the version pinned in
# tools/jaeger; its ports are bound to loopback.
JAEGER_OTLP  ?= 127.0.0.1:4317
JAEGER_QUERY ?= 127.0.0.1:16686
JAEGER_QUERY_GRPC ?= 127.0.0.1:16685
## jaeger: a local Jaeger: OTLP/gRPC on JAEGER_OTLP, the query API on JAEGER_QUERY (docs/operations.md);
## run services with OTEL_EXPORTER_OTLP_ENDPOINT=http://$(JAEGER_OTLP), read a payment with unigatectl trace
jaeger: $(TOOLS)/jaeger
	JAEGER_OTLP=$(JAEGER_OTLP) JAEGER_QUERY=$(JAEGER_QUERY) JAEGER_QUERY_GRPC=$(JAEGER_QUERY_GRPC) \
	  $(TOOLS)/jaeger --config tools/jaeger/config.yaml
$(TOOLS)/jaeger: tools/jaeger/go.mod
	cd tools/jaeger && GOWORK=off GOBIN=$(TOOLS) $(GO) install tool
# ghz, the gRPC load tester, built from the Go module proxy at the version pinned in tools/ghz.
$(TOOLS)/ghz: tools/ghz/go.mod
	cd tools/ghz && GOWORK=off GOBIN=$(TOOLS) $(GO) install tool

## tools: buf and the protoc plugins, at the versions pinned in tools/
tools: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc
$(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc: tools/go.mod
	cd tools && GOWORK=off GOBIN=$(TOOLS) $(GO) install tool
$(TOOLS)/buf: tools/buf/go.mod
	cd tools/buf && GOWORK=off GOBIN=$(TOOLS) $(GO) install tool

## generate: Go code from the protobuf contracts
generate: tools
	$(TOOLS)/buf generate

## check-generated: generated code and module files are fresh
check-generated: generate
	@for m in $(MODULES); do (cd $$m && $(GO) mod tidy); done
	@git diff --exit-code -- proto/gen $(addsuffix /go.mod,$(MODULES)) $(addsuffix /go.sum,$(MODULES)) \
	  || { echo "generated code or go.mod/go.sum is stale: run 'make check-generated' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- proto/gen)" || { git status --porcelain -- proto/gen; echo "untracked generated files"; exit 1; }

## lint: buf lint and format, gofmt, go vet
lint: tools
	$(TOOLS)/buf lint
	$(TOOLS)/buf format --diff --exit-code
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); echo "gofmt needed"; exit 1; }
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done

clean:
	rm -rf $(BIN) .data $(CLUSTER_DIR) $(FAILOVER_DIR) $(FAILOVER_DIR).log $(CHAOS_DIR) $(CHAOS_DIR).log .bench
