#!/usr/bin/env bash
# ensure-temporal.sh — print on stdout the path of a Temporal CLI binary (pinned v1.5.1);
# progress on stderr. Tests pass it to testsuite.StartDevServer as ExistingPath (via
# TEMPORAL_CLI); this script starts no server.
#
# Looks at $TEMPORAL_CLI, then $(go env GOPATH)/bin/temporal, then `temporal` on PATH.
# v1.5.1 is used as is; another 1.5.x is used with a warning; anything else is skipped.
# If none fits, builds it with `go install github.com/temporalio/cli/cmd/temporal@v1.5.1`
# (~5 min cold). v1.5.1 is the newest CLI that `go install` can build (later versions
# carry a replace directive in go.mod, which `go install pkg@version` refuses).
set -euo pipefail

PIN=1.5.1
PIN_MINOR=1.5
MODULE=github.com/temporalio/cli
PKG=$MODULE/cmd/temporal

log() { printf 'ensure-temporal: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

export GOTOOLCHAIN=local
command -v go >/dev/null 2>&1 || die "go is not on PATH"
GOPATH_FIRST=$(go env GOPATH | cut -d: -f1)
GOBIN_DIR=$(go env GOBIN)
[[ -n $GOBIN_DIR ]] || GOBIN_DIR=$GOPATH_FIRST/bin
INSTALLED=$GOBIN_DIR/temporal

# cli_version BIN: print the CLI's version (x.y.z) or nothing. Binaries built with
# `go install` report "0.0.0-DEV" from --version, so the module version recorded in the
# binary is preferred; --version is the fallback for release downloads.
cli_version() {
	local bin=$1 v=
	v=$(go version -m "$bin" 2>/dev/null | awk -v m="$MODULE" '$1 == "mod" && $2 == m { sub(/^v/, "", $3); print $3; exit }') || true
	if [[ -z $v ]]; then
		v=$(timeout 30 "$bin" --version 2>/dev/null </dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1) || true
		[[ $v == 0.0.0 ]] && v=
	fi
	printf '%s\n' "$v"
}

# acceptable BIN: true if BIN is a Temporal CLI we can use.
acceptable() {
	local bin=$1 v
	[[ -f $bin && -x $bin ]] || return 1
	v=$(cli_version "$bin")
	if [[ $v == "$PIN" ]]; then
		return 0
	elif [[ $v == "$PIN_MINOR".* ]]; then
		log "warning: $bin is Temporal CLI $v, not the pinned $PIN; using it anyway"
		return 0
	fi
	log "warning: $bin is Temporal CLI ${v:-of unknown version}, not $PIN_MINOR.x; skipping it"
	return 1
}

found() {
	local p
	p=$(readlink -f "$1")
	log "using $p"
	printf '%s\n' "$p"
	exit 0
}

if [[ -n ${TEMPORAL_CLI:-} ]]; then
	if acceptable "$TEMPORAL_CLI"; then found "$TEMPORAL_CLI"; fi
	[[ -x $TEMPORAL_CLI ]] || log "warning: TEMPORAL_CLI=$TEMPORAL_CLI is not an executable file"
fi
if acceptable "$INSTALLED"; then found "$INSTALLED"; fi
if on_path=$(command -v temporal 2>/dev/null) && [[ $on_path != "$INSTALLED" ]]; then
	if acceptable "$on_path"; then found "$on_path"; fi
fi

# dots PID: print a dot to stderr every 15 s while PID lives.
dots() {
	local pid=$1 n=0
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		n=$((n + 1))
		if ((n % 15 == 0)); then printf '.' >&2; fi
	done
}

mkdir -p "$GOBIN_DIR"
LOCK=$GOBIN_DIR/.temporal-install.lock
exec 9>"$LOCK"
if ! flock -n 9; then
	log "another ensure-temporal.sh is building the CLI; waiting for it"
	flock 9
fi
# Someone may have finished a build while we waited for the lock.
if acceptable "$INSTALLED"; then found "$INSTALLED"; fi

# A `go install` of the CLI started by hand may be running; wait for it rather than
# building the same thing twice on a 2-core machine.
if command -v pgrep >/dev/null 2>&1 && pgrep -f "go install $PKG@" >/dev/null 2>&1; then
	log "a 'go install $PKG' is already running; waiting for it (a dot every 15 s)"
	while pgrep -f "go install $PKG@" >/dev/null 2>&1; do
		sleep 15
		printf '.' >&2
	done
	printf '\n' >&2
	if acceptable "$INSTALLED"; then found "$INSTALLED"; fi
fi

BUILD_LOG=$(mktemp "${TMPDIR:-/tmp}/temporal-cli-install.XXXXXX.log")
log "building Temporal CLI v$PIN (first run only, ~5 min); log: $BUILD_LOG"
start=$SECONDS
(
	cd /
	# GOFLAGS of the caller (e.g. -mod=vendor) must not leak into this module-less build.
	exec env GOFLAGS= GOTOOLCHAIN=local GOBIN="$GOBIN_DIR" go install "$PKG@v$PIN" </dev/null >"$BUILD_LOG" 2>&1 9>&-
) &
pid=$!
dots "$pid"
status=0
wait "$pid" || status=$?
printf '\n' >&2
if ((status != 0)); then
	tail -n 30 "$BUILD_LOG" >&2 || true
	die "go install $PKG@v$PIN failed (exit $status); full log: $BUILD_LOG"
fi
log "built in $((SECONDS - start)) s"
rm -f "$BUILD_LOG"
acceptable "$INSTALLED" || die "built $INSTALLED but it does not report v$PIN"
found "$INSTALLED"
