#!/usr/bin/env bash
# Restores backups written by scripts/backup.sh. This REPLACES the current data.
#
#   scripts/restore.sh backups/backup_postgres_20250101_020000.sql.gz [backups/backup_chroma_20250101_020000.tar.gz]
#   EVENTS_DB_DSN=postgresql://... scripts/restore.sh backup_postgres_....sql.gz
#
# Arguments, in any order: a PostgreSQL dump (.sql.gz or plain .sql, from pg_dump --clean
# --if-exists) and/or a Chroma archive (.tar.gz). Restore both from the same backup run: events
# and revisions live in PostgreSQL, the vectors for search in Chroma.
#
# The dump is applied in one transaction (psql --single-transaction, ON_ERROR_STOP): it either
# replaces every table it contains or changes nothing.
#
# Environment:
#   COMPOSE=1 | 0      use `docker compose` (1) or EVENTS_DB_DSN and local tools (0). Unset: local
#                      when EVENTS_DB_DSN or CHROMA_DATA_DIR is set, else compose when its
#                      postgres is running.
#   EVENTS_DB_DSN      the database to restore into without compose. psql must be at least as new
#                      as the pg_dump that wrote the dump (recent patch releases add \restrict).
#   CHROMA_DATA_DIR    without compose: the Chroma data folder to replace (stop that server first).
#   CHROMA_VOLUME      with compose: the Chroma volume (default mcp-chroma-data).
#
# With compose, mcp-server and event-worker (and chroma, for an archive) are stopped during the
# restore and started again afterwards; after a failure they are left stopped.
set -euo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHROMA_VOLUME="${CHROMA_VOLUME:-mcp-chroma-data}"

log() { printf 'restore: %s\n' "$*"; }
die() {
  printf 'restore: %s\n' "$*" >&2
  exit 1
}
usage() { die "usage: scripts/restore.sh BACKUP_POSTGRES.sql[.gz] [BACKUP_CHROMA.tar.gz]"; }
# shellcheck source=scripts/lib.sh
source "$PROJECT_DIR/scripts/lib.sh"

dump=""
archive=""
for arg in "$@"; do
  case "$arg" in
    *.sql.gz | *.sql) dump="$arg" ;;
    *.tar.gz | *.tgz) archive="$arg" ;;
    *) usage ;;
  esac
  [[ -f "$arg" ]] || die "no such file: $arg"
done
[[ -n "$dump" || -n "$archive" ]] || usage

# Plain SQL, whether compressed or not (the guide's manual backup is uncompressed).
read_dump() {
  if [[ "$dump" == *.gz ]]; then gunzip -c "$dump"; else cat "$dump"; fi
}

mode="${COMPOSE:-}"
if [[ -z "$mode" ]]; then
  if [[ -n "${EVENTS_DB_DSN:-}" || -n "${CHROMA_DATA_DIR:-}" ]]; then
    mode=0
  elif command -v docker >/dev/null && [[ -n "$(compose ps --status running -q postgres 2>/dev/null)" ]]; then
    mode=1
  else
    die "nowhere to restore to: set EVENTS_DB_DSN, or run from a compose deployment whose postgres service is running (COMPOSE=1)"
  fi
fi

# NOTICEs such as "table ... does not exist, skipping" from --if-exists are noise here.
export PGOPTIONS="${PGOPTIONS:+$PGOPTIONS }-c client_min_messages=warning"

if [[ "$mode" == 1 ]]; then
  # Writers must not race the restore, and their connections would hold locks DROP TABLE waits on.
  # (Plain strings, not arrays: macOS ships bash 3.2, without mapfile.)
  running=" $(compose ps --status running --services | tr '\n' ' ') "
  to_restart=""
  for service in mcp-server event-worker; do
    [[ "$running" == *" $service "* ]] && to_restart="$to_restart $service"
  done
  to_restart="${to_restart# }"
  trap '[[ -z "$to_restart" ]] || printf "restore: failed; left stopped: %s (start them with: docker compose start %s)\n" "$to_restart" "$to_restart" >&2' ERR
  if [[ -n "$to_restart" ]]; then
    log "stopping $to_restart"
    # shellcheck disable=SC2086 # service names, split on purpose
    compose stop $to_restart
  fi

  if [[ -n "$dump" ]]; then
    log "restoring $dump into the compose postgres service"
    read_dump | compose exec -T -e PGOPTIONS="$PGOPTIONS" postgres \
      sh -c 'psql -v ON_ERROR_STOP=1 --single-transaction --quiet -U "$POSTGRES_USER" -d "$POSTGRES_DB"' >/dev/null
    log "PostgreSQL restored"
  fi

  if [[ -n "$archive" ]]; then
    archive_dir="$(cd "$(dirname "$archive")" && pwd)"
    log "stopping chroma; replacing volume $CHROMA_VOLUME with $archive"
    compose stop chroma
    docker run --rm -v "$CHROMA_VOLUME":/data -v "$archive_dir":/backup:ro busybox:1.36 \
      sh -c 'find /data -mindepth 1 -delete && tar xzf "/backup/$1" -C /data' sh "$(basename "$archive")"
    compose start chroma
    log "Chroma restored and started"
  fi

  if [[ -n "$to_restart" ]]; then
    # shellcheck disable=SC2086
    compose start $to_restart
    log "started $to_restart"
  fi
else
  if [[ -n "$dump" ]]; then
    [[ -n "${EVENTS_DB_DSN:-}" ]] || die "COMPOSE=0 needs EVENTS_DB_DSN (a postgres:// URL)"
    command -v psql >/dev/null || die "psql is not installed (PostgreSQL client tools)"
    log "restoring $dump into $(redact <<<"$EVENTS_DB_DSN") (stop the memory server and workers first)"
    read_dump | with_dsn psql -v ON_ERROR_STOP=1 --single-transaction --quiet --dbname >/dev/null
    log "PostgreSQL restored"
  fi

  if [[ -n "$archive" ]]; then
    [[ -n "${CHROMA_DATA_DIR:-}" ]] || die "restoring a Chroma archive without compose needs CHROMA_DATA_DIR"
    mkdir -p "$CHROMA_DATA_DIR"
    target="$(cd "$CHROMA_DATA_DIR" && pwd)"
    [[ "$target" != / ]] || die "CHROMA_DATA_DIR must not be /"
    log "replacing $target with $archive (stop the Chroma server first)"
    # Unpack beside the target first, so a damaged archive leaves the current data untouched.
    staging="$(mktemp -d "$target.restore.XXXXXX")"
    trap 'rm -rf "$staging"' EXIT
    tar xzf "$archive" -C "$staging"
    find "$target" -mindepth 1 -delete
    find "$staging" -mindepth 1 -maxdepth 1 -exec mv {} "$target/" \;
    log "Chroma data restored"
  fi
fi
log "done"
