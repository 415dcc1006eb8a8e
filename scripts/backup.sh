#!/usr/bin/env bash
# Backs up the memory server's PostgreSQL database (and Chroma's data when asked or in compose).
#
#   scripts/backup.sh                       # compose: dump the postgres service, archive mcp-chroma-data
#   EVENTS_DB_DSN=postgresql://... scripts/backup.sh   # any server, with the local pg_dump
#
# Writes into BACKUP_DIR (default: backups/ next to compose.yaml):
#   backup_postgres_<YYYYmmdd_HHMMSS>.sql.gz  plain SQL from pg_dump --clean --if-exists, so
#                                             scripts/restore.sh replaces what is there
#   backup_chroma_<YYYYmmdd_HHMMSS>.tar.gz    the Chroma data folder (compose, or CHROMA_DATA_DIR)
#
# Environment:
#   COMPOSE=1 | 0      use `docker compose` (1) or EVENTS_DB_DSN and local tools (0). Unset: the
#                      DSN when EVENTS_DB_DSN is set, else compose when its postgres is running.
#   EVENTS_DB_DSN      the database to dump without compose.
#   CHROMA_DATA_DIR    without compose: the Chroma data folder to archive (skipped when unset).
#   CHROMA_VOLUME      with compose: the Chroma volume (default mcp-chroma-data).
#   STOP_CHROMA=1      with compose: stop chroma while its volume is archived (a consistent copy;
#                      search is unavailable for those seconds). Default: archive it live.
#   BACKUP_DIR         target folder, created when missing.
#
# Cron, daily at 2 AM:  0 2 * * * /path/to/memory/scripts/backup.sh >> /var/log/memory-backup.log 2>&1
set -euo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BACKUP_DIR="${BACKUP_DIR:-$PROJECT_DIR/backups}"
CHROMA_VOLUME="${CHROMA_VOLUME:-mcp-chroma-data}"
TIMESTAMP="$(date +%Y%m%d_%H%M%S)"

log() { printf 'backup: %s\n' "$*"; }
die() {
  printf 'backup: %s\n' "$*" >&2
  exit 1
}
# shellcheck source=scripts/lib.sh
source "$PROJECT_DIR/scripts/lib.sh"
size() { du -h "$1" | cut -f1; }

mode="${COMPOSE:-}"
if [[ -z "$mode" ]]; then
  if [[ -n "${EVENTS_DB_DSN:-}" ]]; then
    mode=0
  elif command -v docker >/dev/null && [[ -n "$(compose ps --status running -q postgres 2>/dev/null)" ]]; then
    mode=1
  else
    die "nothing to back up: set EVENTS_DB_DSN, or run from a compose deployment whose postgres service is running (COMPOSE=1)"
  fi
fi

mkdir -p "$BACKUP_DIR"
BACKUP_DIR="$(cd "$BACKUP_DIR" && pwd)"
pg_file="$BACKUP_DIR/backup_postgres_${TIMESTAMP}.sql.gz"
chroma_file="$BACKUP_DIR/backup_chroma_${TIMESTAMP}.tar.gz"
# A failed run must not leave a truncated file that looks like a backup.
trap 'rm -f "$pg_file.partial" "$chroma_file.partial"' EXIT

# --no-owner: the dump restores into a database owned by another role (managed Postgres, another
# POSTGRES_USER) without failing on ALTER ... OWNER.
dump_flags=(--clean --if-exists --no-owner)

if [[ "$mode" == 1 ]]; then
  log "pg_dump of the compose postgres service -> $pg_file"
  compose exec -T postgres sh -c "pg_dump ${dump_flags[*]} -U \"\$POSTGRES_USER\" -d \"\$POSTGRES_DB\"" \
    | gzip >"$pg_file.partial"
  mv "$pg_file.partial" "$pg_file"
  log "wrote $pg_file ($(size "$pg_file"))"

  stopped=0
  if [[ "${STOP_CHROMA:-0}" == 1 ]]; then
    log "stopping chroma for a consistent copy"
    compose stop chroma
    stopped=1
    trap 'rm -f "$pg_file.partial" "$chroma_file.partial"; compose start chroma' EXIT
  fi
  log "archiving volume $CHROMA_VOLUME -> $chroma_file"
  docker run --rm -v "$CHROMA_VOLUME":/data:ro -v "$BACKUP_DIR":/backup busybox:1.36 \
    tar czf "/backup/$(basename "$chroma_file").partial" -C /data .
  mv "$chroma_file.partial" "$chroma_file"
  if [[ "$stopped" == 1 ]]; then
    trap 'rm -f "$pg_file.partial" "$chroma_file.partial"' EXIT
    compose start chroma
    log "started chroma again"
  fi
  log "wrote $chroma_file ($(size "$chroma_file"))"
else
  [[ -n "${EVENTS_DB_DSN:-}" ]] || die "COMPOSE=0 needs EVENTS_DB_DSN (a postgres:// URL)"
  command -v pg_dump >/dev/null || die "pg_dump is not installed (PostgreSQL client tools)"
  log "pg_dump $(redact <<<"$EVENTS_DB_DSN") -> $pg_file"
  with_dsn pg_dump "${dump_flags[@]}" --dbname | gzip >"$pg_file.partial"
  mv "$pg_file.partial" "$pg_file"
  log "wrote $pg_file ($(size "$pg_file"))"

  if [[ -n "${CHROMA_DATA_DIR:-}" ]]; then
    [[ -d "$CHROMA_DATA_DIR" ]] || die "CHROMA_DATA_DIR=$CHROMA_DATA_DIR is not a folder"
    log "archiving $CHROMA_DATA_DIR -> $chroma_file (stop the Chroma server first for a consistent copy)"
    tar czf "$chroma_file.partial" -C "$CHROMA_DATA_DIR" .
    mv "$chroma_file.partial" "$chroma_file"
    log "wrote $chroma_file ($(size "$chroma_file"))"
  else
    log "CHROMA_DATA_DIR not set: Chroma data not archived"
  fi
fi
log "done"
