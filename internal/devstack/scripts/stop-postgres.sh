#!/usr/bin/env bash
# stop-postgres.sh — stop the throwaway cluster that ensure-postgres.sh started
# (in <repo>/.local/pg or /tmp/followup-pg-<uid>, or $FOLLOWUP_PG_DIR). It only acts on a
# folder holding ensure-postgres.sh's marker, so it never stops the machine's own server.
# Pass --purge to also delete the cluster's folder.
set -euo pipefail

log() { printf 'stop-postgres: %s\n' "$*" >&2; }

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../../.." && pwd)
MARKER_NAME=started-by-ensure-postgres

PURGE=0
[[ ${1:-} == --purge ]] && PURGE=1

IS_ROOT=0
[[ $(id -u) == 0 ]] && IS_ROOT=1

as_pg() {
	(
		cd /
		if ((IS_ROOT)); then
			exec runuser -u postgres -- "$@" </dev/null
		else
			exec "$@" </dev/null
		fi
	)
}

find_pg_ctl() {
	local d
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		[[ -n $d && -x $d/pg_ctl ]] && { printf '%s\n' "$d/pg_ctl"; return 0; }
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[[ -x $d/pg_ctl ]] && { printf '%s\n' "$d/pg_ctl"; return 0; }
	done
	command -v pg_ctl
}

if [[ -n ${FOLLOWUP_PG_DIR:-} ]]; then
	candidates=("$FOLLOWUP_PG_DIR")
else
	candidates=("$REPO_ROOT/.local/pg" "/tmp/followup-pg-$(id -u)")
fi

PG_CTL=$(find_pg_ctl) || { log "pg_ctl not found"; exit 1; }
found=0
for base in "${candidates[@]}"; do
	[[ -d $base ]] || continue
	if [[ ! -f $base/$MARKER_NAME ]]; then
		if [[ -f $base/data/postmaster.pid ]]; then
			log "$base: a server runs there but ensure-postgres.sh did not start it; leaving it alone"
		fi
		continue
	fi
	found=1
	if as_pg "$PG_CTL" -D "$base/data" status >/dev/null 2>&1; then
		log "stopping throwaway cluster in $base/data"
		as_pg "$PG_CTL" -D "$base/data" -m fast -w -t 60 stop >&2
	else
		log "throwaway cluster in $base/data is not running"
	fi
	rm -f "$base/$MARKER_NAME"
	if ((PURGE)); then
		log "removing $base"
		rm -rf "$base"
	fi
done
((found)) || log "no throwaway cluster started by ensure-postgres.sh was found"
exit 0
