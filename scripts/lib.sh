# Helpers shared by scripts/backup.sh and scripts/restore.sh (sourced, not run). The caller sets
# PROJECT_DIR first.

# The password of a postgres URL as ***, for anything printed.
redact() { sed -E 's|(//[^:/?#@[:space:]]*:)[^@/?#[:space:]]*@|\1***@|g'; }
compose() { (cd "$PROJECT_DIR" && docker compose "$@"); }

# Runs a libpq tool against EVENTS_DB_DSN with the password moved from the URL into PGPASSWORD,
# so it shows neither in `ps` nor in error messages; the tool's stderr is redacted as well.
with_dsn() {
  local dsn="$EVENTS_DB_DSN" password
  password="$(sed -nE 's|^[a-z]+://[^:/?#@]*:([^@/?#]*)@.*|\1|p' <<<"$dsn")"
  if [[ -n "$password" ]]; then
    password="${password//\\/\\\\}"
    # shellcheck disable=SC2059 # percent-decoding: %40 -> \x40 -> @
    PGPASSWORD="$(printf "${password//%/\\x}")"
    export PGPASSWORD
    dsn="$(sed -E 's|^([a-z]+://[^:/?#@]*):[^@/?#]*@|\1@|' <<<"$dsn")"
  fi
  # stdout goes on (fd 3) untouched; stderr passes through redact, in order with our own lines.
  { "$@" "$dsn" 2>&1 >&3 3>&- | redact >&2 3>&-; } 3>&1
}
