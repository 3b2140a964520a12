# setsuden: `make run` (demo) and `make test` (whole suite) work on a fresh
# Debian machine as root; every target installs what it needs, idempotently.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO      ?= go
TOOLS   := $(CURDIR)/.tools/bin
INFLUXD := $(TOOLS)/influxd
export SETSUDEN_INFLUXD := $(INFLUXD)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: run test test-short build deps-run deps-test tools lint bench-collector bench-planner clean test-shedding

run: deps-run $(INFLUXD) build
	./bin/setsuden demo

build: deps-run
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/setsuden ./cmd/setsuden

deps-run:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

tools: $(INFLUXD)

# InfluxDB 1.8.10 built from the Go module proxy (about 2.5 min, once); it
# serves the v2 write API and Flux (shared/deps.md section 5).
$(INFLUXD):
	@echo "building influxd v1.8.10 into $(TOOLS) (once, ~2.5 min)" >&2
	@mkdir -p $(TOOLS)
	cd /tmp && GOBIN=$(TOOLS) GOFLAGS=-mod=mod $(GO) install github.com/influxdata/influxdb/cmd/influxd@v1.8.10

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# The whole suite: unit and integration tests against the real influxd,
# libvirt test driver, pymodbus, mbpoll and Chromium.
test: deps-test $(INFLUXD) lint
	$(GO) test -count=1 -timeout 30m ./...

# The shedding executor against real parts only: two real session libvirtd
# with qemu guests, ipmi_sim, the built binary killed mid-plan. Ends with one
# JSON line summed from the cases' own measurements (sheddingsum).
SHED_REPORT := $(CURDIR)/bin/shedding-report.jsonl
test-shedding: deps-test
	@mkdir -p bin && rm -f $(SHED_REPORT)
	@SETSUDEN_SHEDDING_REPORT=$(SHED_REPORT) $(GO) test -count=1 -timeout 20m \
	  -run 'TestMigrateReal|TestIPMIReal|TestExecutorRealParts|TestExecuteSIGKILLMidPlanAndRestart' \
	  ./adapters/libvirt ./adapters/bmc ./rules/executor ./cmd/setsuden; rc=$$?; \
	  $(GO) run ./internal/testmigrate/sheddingsum $(SHED_REPORT) || rc=1; exit $$rc

# The fast path: no services needed.
test-short:
	$(GO) test -short ./...

clean:
	rm -rf bin demo-data

TELEGRAF := $(TOOLS)/telegraf
$(TELEGRAF):
	@echo "building telegraf v1.37.2 (modbus input, influxdb_v2 output) into $(TOOLS) (once, ~2 min)" >&2
	@mkdir -p $(TOOLS)
	cd /tmp && GOBIN=$(TOOLS) GOFLAGS=-mod=mod $(GO) install -tags "custom,inputs.modbus,outputs.influxdb_v2" github.com/influxdata/telegraf/cmd/telegraf@v1.37.2

# Side-by-side with Telegraf on the same simulated meters and influxd (~10 min).
bench-collector: deps-run $(INFLUXD) $(TELEGRAF) build
	$(GO) run ./bench/collector --setsuden bin/setsuden --telegraf $(TELEGRAF)

# The planner beside its lower bound and Watcher's first-fit on the PlanetLab days and random
# inventories, and planning time at 1,000 and 10,000 hosts on one core (~1 min).
bench-planner:
	$(GO) test -count=1 -run XXX -bench . -benchtime 1x ./rules/shed
	$(GO) test -count=1 -run XXX -bench 'PlanScale|ShedScale' -benchtime 1x -cpu 1 ./rules/shed
