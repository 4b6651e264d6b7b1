#!/usr/bin/env bash
# ensure-chromium.sh — print on stdout the path of a Chromium binary for the browser tests
# (internal/browsertest reads it from $CHROMIUM); progress on stderr.
#
# Looks at $CHROMIUM, then /usr/bin/chromium, then `chromium` on PATH. If none runs, installs
# Debian's package `chromium` with apt-get (as root, or through sudo without a password).
# Never downloads a browser build of its own: only the distribution's package is used.
set -euo pipefail

PKG=chromium
DEFAULT=/usr/bin/chromium

log() { printf 'ensure-chromium: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# version BIN: print what BIN says of its version, or fail.
version() {
	local out
	out=$(timeout 60 "$1" --version </dev/null 2>/dev/null) || return 1
	[[ $out == *[0-9].[0-9]* ]] || return 1
	printf '%s\n' "$out"
}

# usable BIN: true if BIN is an executable Chromium that reports its version.
usable() {
	local bin=$1 v
	[[ -f $bin && -x $bin ]] || return 1
	v=$(version "$bin") || { log "warning: $bin does not answer --version; skipping it"; return 1; }
	log "using $bin ($v)"
	return 0
}

found() {
	printf '%s\n' "$1"
	exit 0
}

if [[ -n ${CHROMIUM:-} ]]; then
	if usable "$CHROMIUM"; then found "$CHROMIUM"; fi
	log "warning: CHROMIUM=$CHROMIUM is not a working Chromium; trying $DEFAULT"
fi
if usable "$DEFAULT"; then found "$DEFAULT"; fi
if on_path=$(command -v chromium 2>/dev/null) && [[ $on_path != "$DEFAULT" ]]; then
	if usable "$on_path"; then found "$on_path"; fi
fi

# Install Debian's package.
SUDO=()
if [[ $(id -u) != 0 ]]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		SUDO=(sudo -n)
	else
		die "Chromium is not installed and this user cannot run apt-get: install the Debian package '$PKG' (apt-get install $PKG) or set CHROMIUM to a Chromium binary"
	fi
fi
command -v apt-get >/dev/null 2>&1 ||
	die "Chromium is not installed and apt-get is missing: install Chromium and set CHROMIUM to its path"

APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
LOG=$(mktemp "${TMPDIR:-/tmp}/ensure-chromium.XXXXXX.log")
start=$SECONDS
log "Chromium not found; installing Debian's '$PKG' (apt-get update, then apt-get install; log: $LOG)"
# apt-get's progress (one line per package) goes to stderr and to the log.
if ! "${APT[@]}" update </dev/null 2>&1 | tee -a "$LOG" >&2; then
	die "apt-get update failed (log: $LOG)"
fi
if ! "${APT[@]}" install -y "$PKG" </dev/null 2>&1 | tee -a "$LOG" >&2; then
	die "apt-get install $PKG failed (log: $LOG)"
fi
log "installed in $((SECONDS - start)) s"
rm -f "$LOG"
if usable "$DEFAULT"; then found "$DEFAULT"; fi
die "apt-get installed '$PKG' but $DEFAULT does not run"
