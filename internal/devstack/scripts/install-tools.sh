#!/usr/bin/env bash
# install-tools.sh — make sure the pinned Go tools CI needs are in $(go env GOBIN) (or
# $(go env GOPATH)/bin), installing only what is missing or at another version.
# Prints the path of workflowcheck on stdout; progress on stderr.
#
# Tools are installed with `go install module@version`, outside the project's go.mod,
# so their dependencies never touch the project's module graph.
set -euo pipefail

WORKFLOWCHECK_MODULE=go.temporal.io/sdk/contrib/tools/workflowcheck
WORKFLOWCHECK_VERSION=v0.6.0

log() { printf 'install-tools: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# workflowcheck loads the project's packages, so it is built with the project's toolchain.
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
command -v go >/dev/null 2>&1 || die "go is not on PATH"
GOBIN_DIR=$(go env GOBIN)
[[ -n $GOBIN_DIR ]] || GOBIN_DIR=$(go env GOPATH | cut -d: -f1)/bin

# module_version BIN MODULE: the version of MODULE recorded in BIN by the go command.
module_version() {
	go version -m "$1" 2>/dev/null | awk -v m="$2" '($1 == "path" || $1 == "mod") && $2 == m && NF >= 3 { print $3; exit }'
}

# ensure NAME MODULE VERSION: install MODULE@VERSION unless GOBIN/NAME already is that version.
ensure() {
	local name=$1 module=$2 version=$3 bin have
	bin=$GOBIN_DIR/$name
	if [[ -x $bin ]]; then
		have=$(module_version "$bin" "$module")
		if [[ $have == "$version" ]]; then
			log "$name $version: $bin"
			printf '%s\n' "$bin"
			return 0
		fi
		log "$bin is ${have:-of unknown version}, want $version; reinstalling"
	fi
	log "installing $module@$version"
	(cd / && env GOFLAGS= GOBIN="$GOBIN_DIR" go install "$module@$version" </dev/null >&2) ||
		die "go install $module@$version failed"
	printf '%s\n' "$bin"
}

ensure workflowcheck "$WORKFLOWCHECK_MODULE" "$WORKFLOWCHECK_VERSION"
