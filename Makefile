# Build, lint and test entry points. CI (.ci/run) runs `make test`.
#
#   make test           vet + workflowcheck + test-go (what CI runs)
#   make test-go        ensure PostgreSQL, the Temporal CLI and Chromium, then go test with a summary
#   make test-unit      the fast tier: every test that needs no PostgreSQL, Temporal or Chromium
#                       (FOLLOWUP_TEST_TIER=unit: the others skip, saying what they need); not CI
#   make vet            go vet ./...
#   make workflowcheck  Temporal determinism check of registered workflows
#   make build          go build ./...
#   make run            the engine on embedded defaults (PostgreSQL, Temporal, mail sink, worker, API)
#   make demo           demo deals in the stack make run started
#   make tools          install pinned tools (workflowcheck) if missing
#   make vulncheck      govulncheck against a database built offline from golang.org/x/vulndb
#   make stop-postgres  stop the throwaway PostgreSQL that test-go may have started
#
# Overridable: PKGS (default ./...), GO_TEST_FLAGS, UNIT_TEST_FLAGS, WORKFLOWCHECK_FLAGS.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.NOTPARALLEL:
.DEFAULT_GOAL := test

# The patched toolchain the project builds with (go.mod's toolchain line); the go command
# fetches it from the module proxy once per machine (about 76 MB). Change it here and in .ci/run together.
export GOTOOLCHAIN := go1.27.3

GO            ?= go
PKGS          ?= ./...
SCRIPTS       := internal/devstack/scripts
LOCAL         := .local
TEST_LOG      := $(LOCAL)/go-test.log
GO_TEST_FLAGS ?= -race -count=1 -timeout 15m -p 2
UNIT_TEST_LOG   := $(LOCAL)/go-test-unit.log
# No -count=1: a package nothing changed in answers from Go's test cache (its output replayed,
# so the counts stay whole); UNIT_TEST_FLAGS='-count=1 -timeout 5m' runs everything again.
UNIT_TEST_FLAGS ?= -timeout 5m
# Packages the unit tier leaves out: their TestMain starts a Temporal dev server before any test.
UNIT_LEFT_OUT   := ./internal/deals ./internal/integration
WORKFLOWCHECK_CONFIG := .ci/workflowcheck.yaml
WORKFLOWCHECK_FLAGS  ?= $(if $(wildcard $(WORKFLOWCHECK_CONFIG)),-config $(WORKFLOWCHECK_CONFIG))

.PHONY: test test-go test-unit fmt-check vet workflowcheck build tools stop-postgres run demo vulncheck

test: fmt-check vet workflowcheck test-go

# Every Go file as gofmt writes it (the list of files that are not, else nothing).
fmt-check:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.local/*'))"
	if [ -n "$$unformatted" ]; then echo "gofmt: these files need gofmt -w:"; echo "$$unformatted"; exit 1; fi
	echo "gofmt: all files formatted"

build:
	$(GO) build ./...

# The whole engine on this machine: PostgreSQL, Temporal dev server, mail sink, worker, API.
run:
	@mkdir -p $(LOCAL)/bin
	$(GO) build -o $(LOCAL)/bin/devstack ./internal/devstack/cmd/devstack
	exec $(LOCAL)/bin/devstack

# Demo deals on the demo pipeline, in the stack make run started.
demo:
	@mkdir -p $(LOCAL)/bin
	$(GO) build -o $(LOCAL)/bin/devstack ./internal/devstack/cmd/devstack
	$(LOCAL)/bin/devstack demo

vet:
	$(GO) vet $(PKGS)

tools:
	@bash $(SCRIPTS)/install-tools.sh >/dev/null

# Not part of `make test`: it needs no network beyond the module proxy, but its first run
# builds two tools (about 4 minutes).
vulncheck:
	@bash $(SCRIPTS)/vulncheck.sh

workflowcheck:
	@wfc="$$(bash $(SCRIPTS)/install-tools.sh)"
	echo "workflowcheck $(WORKFLOWCHECK_FLAGS) $(PKGS)"
	"$$wfc" $(WORKFLOWCHECK_FLAGS) $(PKGS)

# The go test exit status is the recipe's: `|| status=$$?` under pipefail catches go
# test's status (tee succeeds), and the recipe ends with `exit $$status`.
test-go:
	@mkdir -p $(LOCAL)
	DATABASE_URL="$$(bash $(SCRIPTS)/ensure-postgres.sh)"
	export DATABASE_URL
	TEMPORAL_CLI="$$(bash $(SCRIPTS)/ensure-temporal.sh)"
	export TEMPORAL_CLI
	echo "TEMPORAL_CLI=$$TEMPORAL_CLI"
	# Headless Chromium for the browser tests (internal/browsertest): Debian's package,
	# installed with apt-get when missing.
	CHROMIUM="$$(bash $(SCRIPTS)/ensure-chromium.sh)"
	export CHROMIUM
	echo "CHROMIUM=$$CHROMIUM"
	$(GO) version
	# Each run logs to its own file (concurrent runs in one tree must not mix their
	# counts), renamed to $(TEST_LOG) once summarised.
	runlog="$$(mktemp $(LOCAL)/go-test.XXXXXX.log)"
	echo "go test -v $(GO_TEST_FLAGS) $(PKGS)   (output also in $$runlog, then $(TEST_LOG))"
	start=$$SECONDS
	status=0
	$(GO) test -v $(GO_TEST_FLAGS) $(PKGS) 2>&1 </dev/null | tee "$$runlog" || status=$$?
	elapsed=$$((SECONDS - start))
	echo
	echo "==================== go test summary (exit status $$status) ===================="
	grep -E '^(ok|FAIL|\?)[[:space:]]' "$$runlog" || true
	awk -v status="$$status" -v elapsed="$$elapsed" -v logfile="$(TEST_LOG)" -f $(SCRIPTS)/go-test-summary.awk "$$runlog"
	mv -f "$$runlog" $(TEST_LOG)
	exit $$status

# The unit tier: every test that needs no PostgreSQL, Temporal or Chromium, in well under a
# minute once the modules are downloaded. DATABASE_URL, TEMPORAL_CLI and CHROMIUM are unset and
# FOLLOWUP_TEST_TIER=unit, so each test that needs one of them is skipped by the helper that
# would reach it (internal/pgtest, internal/temporaltest, internal/browsertest), saying which;
# under `make test` the same test runs, and fails when its dependency is missing. Left out:
# the packages in UNIT_LEFT_OUT, whose TestMain starts a Temporal dev server before any test.
test-unit:
	@mkdir -p $(LOCAL)
	mod="$$($(GO) list -m)"
	left_out=()
	for p in $(UNIT_LEFT_OUT); do left_out+=(-e "$$mod/$${p#./}"); done
	pkgs="$$($(GO) list $(PKGS) | grep -v -x -F "$${left_out[@]}")"
	runlog="$$(mktemp $(LOCAL)/go-test-unit.XXXXXX.log)"
	echo "FOLLOWUP_TEST_TIER=unit go test -v $(UNIT_TEST_FLAGS) (every package of $(PKGS) but $(UNIT_LEFT_OUT); output also in $$runlog, then $(UNIT_TEST_LOG))"
	start=$$SECONDS
	status=0
	env -u DATABASE_URL -u TEMPORAL_CLI -u CHROMIUM FOLLOWUP_TEST_TIER=unit \
		$(GO) test -v $(UNIT_TEST_FLAGS) $$pkgs 2>&1 </dev/null | tee "$$runlog" || status=$$?
	elapsed=$$((SECONDS - start))
	echo
	echo "==================== unit tier summary (exit status $$status) ===================="
	grep -E '^(ok|FAIL|\?)[[:space:]]' "$$runlog" || true
	echo "not run (TestMain starts Temporal): $(UNIT_LEFT_OUT)"
	awk -v status="$$status" -v elapsed="$$elapsed" -v logfile="$(UNIT_TEST_LOG)" -f $(SCRIPTS)/go-test-summary.awk "$$runlog"
	echo "skipped: the tests that need PostgreSQL, Temporal or Chromium (make test runs them)"
	mv -f "$$runlog" $(UNIT_TEST_LOG)
	exit $$status

stop-postgres:
	@bash $(SCRIPTS)/stop-postgres.sh
