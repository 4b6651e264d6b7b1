#!/usr/bin/env bash
# ensure-postgres.sh — print one line on stdout: the URL of a working PostgreSQL.
# All progress goes to stderr, so callers can do DATABASE_URL="$(ensure-postgres.sh)".
#
# Order of preference:
#   1. $DATABASE_URL, if it answers `select 1`;
#   2. the machine's server on 127.0.0.1:5432 (user postgres, trust auth);
#   3. a throwaway cluster in <repo>/.local/pg (or /tmp/followup-pg-<uid> when the
#      postgres user cannot reach the repo), listening on 127.0.0.1:55432.
#      It is started detached and left running for the next run; stop it with
#      stop-postgres.sh.
#
# Environment overrides (mostly for testing this script):
#   FOLLOWUP_PG_PROBE_URL  URL tried in step 2 (default: the 5432 URL above)
#   FOLLOWUP_PG_PORT       port of the throwaway cluster (default 55432)
#   FOLLOWUP_PG_DIR        folder of the throwaway cluster (default <repo>/.local/pg)
set -euo pipefail

log() { printf 'ensure-postgres: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../../.." && pwd)

PROBE_URL=${FOLLOWUP_PG_PROBE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
PG_PORT=${FOLLOWUP_PG_PORT:-55432}
MARKER_NAME=started-by-ensure-postgres

# probe URL: true if the server behind URL answers a query (never prompts for a password).
probe() {
	local url=$1
	if command -v psql >/dev/null 2>&1; then
		PGCONNECT_TIMEOUT=5 psql "$url" -X -w -A -t -q -c 'select 1' </dev/null >/dev/null 2>&1
	elif command -v pg_isready >/dev/null 2>&1; then
		PGCONNECT_TIMEOUT=5 pg_isready -q -d "$url" </dev/null >/dev/null 2>&1
	else
		return 1
	fi
}

redact() { sed -E 's#(://[^:/@]*:)[^@]*@#\1***@#' <<<"$1"; }

# 1. DATABASE_URL
if [[ -n ${DATABASE_URL:-} ]]; then
	if probe "$DATABASE_URL"; then
		log "using DATABASE_URL ($(redact "$DATABASE_URL"))"
		printf '%s\n' "$DATABASE_URL"
		exit 0
	fi
	log "DATABASE_URL is set but does not answer ($(redact "$DATABASE_URL")); trying other options"
fi

# 2. The machine's server.
if probe "$PROBE_URL"; then
	log "using local server ($(redact "$PROBE_URL"))"
	printf '%s\n' "$PROBE_URL"
	exit 0
fi
log "no server answers at $(redact "$PROBE_URL"); using a throwaway cluster on port $PG_PORT"

# 3. Throwaway cluster.
IS_ROOT=0
[[ $(id -u) == 0 ]] && IS_ROOT=1

# as_pg CMD...: run CMD as the postgres user when we are root (initdb and pg_ctl refuse
# root), directly otherwise. Runs from / so an unreadable cwd does not matter, and with
# stdin from /dev/null and inherited descriptors above 2 closed, so the detached server
# never holds a caller's pipe open (CI waits for those to close).
as_pg() {
	(
		cd /
		for fd in /proc/self/fd/*; do
			fd=${fd##*/}
			[[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null || true
		done
		if ((IS_ROOT)); then
			exec runuser -u postgres -- "$@" </dev/null
		else
			exec "$@" </dev/null
		fi
	)
}

find_bindir() {
	local d
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		if [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]]; then
			printf '%s\n' "$d"
			return 0
		fi
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
			printf '%s\n' "$d"
			return 0
		fi
	done
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v initdb)")"
		return 0
	fi
	return 1
}

BINDIR=$(find_bindir) || die "cannot find initdb/pg_ctl (tried pg_config --bindir, /usr/lib/postgresql/*/bin, PATH)"
log "PostgreSQL binaries: $BINDIR"

if ((IS_ROOT)) && ! id postgres >/dev/null 2>&1; then
	die "running as root but there is no 'postgres' user to run initdb as"
fi

# prepare_dir DIR: create DIR (and its parent) and make sure the cluster user can write it.
prepare_dir() {
	local dir=$1 parent
	parent=$(dirname "$dir")
	mkdir -p "$parent" 2>/dev/null || return 1
	if [[ ! -d $dir ]]; then
		mkdir -m 0700 "$dir" 2>/dev/null || return 1
	fi
	if ((IS_ROOT)); then
		# .local/ is ours; make it traversable (umask might have made it 0700).
		[[ $parent == "$REPO_ROOT/.local" ]] && chmod a+x "$parent"
		chown postgres: "$dir" || return 1
		# Every parent directory must be traversable by postgres.
		runuser -u postgres -- test -w "$dir" -a -x "$dir" 2>/dev/null || return 1
	else
		[[ -w $dir ]] || return 1
	fi
	# The Unix socket lives in DIR; its path must fit in sun_path (107 bytes).
	((${#dir} + 20 < 100)) || return 1
	return 0
}

FALLBACK_DIR=/tmp/followup-pg-$(id -u)
if [[ -n ${FOLLOWUP_PG_DIR:-} ]]; then
	PGBASE=$FOLLOWUP_PG_DIR
	prepare_dir "$PGBASE" || die "cannot prepare $PGBASE for the postgres user"
else
	PGBASE=$REPO_ROOT/.local/pg
	if ! prepare_dir "$PGBASE"; then
		log "$PGBASE is not usable by the postgres user (a parent not traversable, or path too long); using $FALLBACK_DIR"
		PGBASE=$FALLBACK_DIR
		prepare_dir "$PGBASE" || die "cannot prepare $PGBASE for the postgres user"
	fi
fi

DATA=$PGBASE/data
LOGFILE=$PGBASE/postgres.log
MARKER=$PGBASE/$MARKER_NAME
URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres?sslmode=disable"

if [[ ! -s $DATA/PG_VERSION ]]; then
	log "initialising cluster in $DATA"
	rm -rf "$DATA"
	as_pg "$BINDIR/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$PGBASE/initdb.log" 2>&1 ||
		{ tail -n 20 "$PGBASE/initdb.log" >&2; die "initdb failed (log: $PGBASE/initdb.log)"; }
fi

if as_pg "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
	log "throwaway cluster already running in $DATA"
else
	if probe "$URL"; then
		# Something else (another checkout's cluster?) already serves this port. It works,
		# so use it, but we did not start it: stop-postgres.sh will not touch it.
		log "port $PG_PORT is already served by another PostgreSQL with trust auth; using it"
		printf '%s\n' "$URL"
		exit 0
	fi
	log "starting throwaway cluster (data $DATA, log $LOGFILE, port $PG_PORT)"
	opts="-k $PGBASE -p $PG_PORT -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
	if ! as_pg "$BINDIR/pg_ctl" -D "$DATA" -o "$opts" -l "$LOGFILE" -w -t 60 start >&2; then
		tail -n 30 "$LOGFILE" >&2 || true
		die "pg_ctl start failed (log: $LOGFILE)"
	fi
	head -n 1 "$DATA/postmaster.pid" >"$MARKER"
fi

for _ in $(seq 1 30); do
	if probe "$URL"; then
		log "throwaway cluster ready: $URL"
		printf '%s\n' "$URL"
		exit 0
	fi
	sleep 1
done
tail -n 30 "$LOGFILE" >&2 || true
die "throwaway cluster in $DATA does not answer at $URL"
