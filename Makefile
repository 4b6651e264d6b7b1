# Build, lint and test entry points. CI (.ci/run) runs `make test`.
#
#   make test           vet + workflowcheck + test-go (what CI runs)
#   make test-go        ensure PostgreSQL, the Temporal CLI and Chromium, then go test with a summary
#   make vet            go vet ./...
#   make workflowcheck  Temporal determinism check of registered workflows
#   make build          go build ./...
#   make run            the engine on embedded defaults (PostgreSQL, Temporal, mail sink, worker, API)
#   make demo           demo deals in the stack make run started
#   make tools          install pinned tools (workflowcheck) if missing
#   make vulncheck      govulncheck against a database built offline from golang.org/x/vulndb
#   make stop-postgres  stop the throwaway PostgreSQL that test-go may have started
#
# Overridable: PKGS (default ./...), GO_TEST_FLAGS, WORKFLOWCHECK_FLAGS.

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
WORKFLOWCHECK_CONFIG := .ci/workflowcheck.yaml
WORKFLOWCHECK_FLAGS  ?= $(if $(wildcard $(WORKFLOWCHECK_CONFIG)),-config $(WORKFLOWCHECK_CONFIG))

.PHONY: test test-go fmt-check vet workflowcheck build tools stop-postgres run demo vulncheck

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
	awk -v status="$$status" -v elapsed="$$elapsed" -v logfile="$(TEST_LOG)" '
		/^[[:space:]]*--- PASS: / { pass++ }
		/^[[:space:]]*--- FAIL: / { fail++ }
		/^[[:space:]]*--- SKIP: / { skip++ }
		/^ok[[:space:]]/                { pk_ok++ }
		/^FAIL[[:space:]]+[^[:space:]]/ { pk_fail++ }
		/^\?[[:space:]]/                { pk_none++ }
		END {
			printf "packages: %d with tests (%d ok, %d failed), %d without test files; wall time %dm%02ds; log %s\n",
				pk_ok + pk_fail, pk_ok, pk_fail, pk_none, elapsed / 60, elapsed % 60, logfile
			if (status != 0 && fail == 0 && pk_fail == 0)
				print "note: go test failed before any test or package reported FAIL (see output above)"
			printf "go test: %d passed, %d failed, %d skipped\n", pass, fail, skip
		}' "$$runlog"
	mv -f "$$runlog" $(TEST_LOG)
	exit $$status

stop-postgres:
	@bash $(SCRIPTS)/stop-postgres.sh
