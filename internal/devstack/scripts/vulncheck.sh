#!/usr/bin/env bash
# vulncheck.sh — govulncheck over the project, offline: the vulnerability service is not
# reachable from the build machines, so its database is built from the pinned module
# golang.org/x/vulndb (its data/osv entries, indexed by its own cmd/indexdb) into .local/vulndb.
# Installs govulncheck and indexdb once into $(go env GOBIN) (or GOPATH/bin). First run: about
# 4 minutes (indexdb pulls in cloud client libraries); later runs: seconds.
# Exit status: govulncheck's (3 when reachable vulnerabilities are found).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."

GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
DB_DIR=.local/vulndb

log() { printf 'vulncheck: %s\n' "$*" >&2; }
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
GOBIN_DIR=$(go env GOBIN)
[[ -n $GOBIN_DIR ]] || GOBIN_DIR=$(go env GOPATH | cut -d: -f1)/bin

install() { # install NAME MODULE@VERSION, unless GOBIN/NAME was built from that version
	local bin=$GOBIN_DIR/$1 want=${2##*@} mod=${2%@*}
	if [[ -x $bin ]] && go version -m "$bin" 2>/dev/null | grep -qE "^\s+(path|mod)\s+${mod%/cmd/*}\s+$want"; then
		return 0
	fi
	log "installing $2"
	(cd / && env GOFLAGS= GOBIN="$GOBIN_DIR" go install "$2" </dev/null >&2)
}
install govulncheck "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
install indexdb "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION"

stamp=$DB_DIR/.version
if [[ ! -f $stamp || $(cat "$stamp") != "$VULNDB_VERSION" ]]; then
	src=$(cd / && GOFLAGS= go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
	[[ -d $src/data/osv ]] || { log "no data/osv in golang.org/x/vulndb@$VULNDB_VERSION"; exit 1; }
	log "indexing $(ls "$src/data/osv" | wc -l) entries of golang.org/x/vulndb@$VULNDB_VERSION into $DB_DIR"
	rm -rf "$DB_DIR"
	"$GOBIN_DIR/indexdb" -vulns "$src/data/osv" -out "$DB_DIR" >&2
	echo "$VULNDB_VERSION" >"$stamp"
fi
go version
log "database golang.org/x/vulndb@$VULNDB_VERSION (entries up to its commit date)"
exec "$GOBIN_DIR/govulncheck" -db "file://$PWD/$DB_DIR" ./...
