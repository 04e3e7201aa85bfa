#!/usr/bin/env bash
# Supabase-compatibility lane: the platform shim, the migrations, the seed and the
# pgTAP suite on a real PostgreSQL 15 server (the version Supabase projects have long
# run; the local stack's PGlite is 18). A migration or test that passes on PGlite but
# not on 15 fails here.
#
# Usage (Debian bookworm, as root, after `npm ci`):   .ci/postgres15.sh
#
# What it does, each step skipped when already done, so that reruns are fast:
#   1. apt installs postgresql-15, postgresql-server-dev-15, postgresql-15-pgtap and
#      the few build tools pgvector needs.
#   2. Builds pgvector 0.8.0 from Debian's own source package (trixie's), fetched with
#      `apt-get source` through a temporary, deb-src-only trixie entry that reuses the
#      archive URI apt is already configured with. That entry and its package lists
#      live in a private temp dir given to apt with -o options: the system's sources,
#      lists and caches are never touched, and nothing is left enabled afterwards.
#   3. Installs pgmq 1.11.1 from the SQL files in @electric-sql/pglite-pgmq's
#      pgmq.tar.gz (pgmq is pure SQL) into PostgreSQL 15's extension directory.
#   4. initdb's a throwaway cluster in a temp dir (as the postgres OS user), starts it
#      on 127.0.0.1 (first free port from $PG15_PORT, default 54329; socket in the
#      temp dir) and, as superuser postgres on database postgres with ON_ERROR_STOP,
#      applies local/platform.sql, every supabase/migrations/*.sql in name order (each
#      in one transaction, psql -1), supabase/seed.sql if present, then runs every
#      supabase/tests/**/*.test.sql file in its own session and checks its TAP output
#      the way local/pgtap.ts does: no `not ok`, no error, and as many results as
#      the `1..N` plan announced. Like local/pgtap.ts, it does not create the pgtap
#      extension itself: a test file does (`create extension if not exists pgtap
#      with schema extensions;` inside its transaction), which also works under
#      `supabase test db`. A `not ok ... # TODO` counts as a failure, as locally.
# Quiet on success apart from the summary; on failure prints what psql/apt/make said
# and exits non-zero. The server is stopped and the temp dir removed on any exit.
set -Eeuo pipefail

PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_CONFIG=$PG_BIN/pg_config
VECTOR_VERSION=0.8.0
PGMQ_VERSION=1.11.1
SOURCE_SUITE=trixie # the Debian release whose pgvector source is 0.8.0
FIRST_PORT=${PG15_PORT:-54329}
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
started=$SECONDS

say() { printf '%s\n' "$*"; }
fail() {
  printf 'postgres15: FAILED: %s\n' "$*" >&2
  exit 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/konstruct-pg15.XXXXXX")
chmod 711 "$WORK" # the postgres OS user must reach its data dir and socket inside
DATA=$WORK/data
SOCK=$WORK/sock
LOG=$WORK/step.log

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
  local status=$?
  if [ -f "$DATA/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a command with its output captured; on failure prints that output and stops.
quietly() {
  local what=$1
  shift
  if ! "$@" >"$LOG" 2>&1; then
    printf 'postgres15: FAILED: %s\n  $ %s\n' "$what" "$*" >&2
    tail -n 60 "$LOG" | sed 's/^/  | /' >&2
    exit 1
  fi
}

# 1. Packages -----------------------------------------------------------------------
installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}
missing=()
for pkg in "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" "postgresql-$PG_MAJOR-pgtap" \
  make gcc libc6-dev dpkg-dev; do
  installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || fail "needs root to install: ${missing[*]}"
  quietly 'apt-get update' apt-get -q update
  quietly "apt-get install ${missing[*]}" apt-get -q -y install --no-install-recommends "${missing[@]}"
fi
[ -x "$PG_CONFIG" ] || fail "$PG_CONFIG not found"
EXT_DIR=$("$PG_CONFIG" --sharedir)/extension
LIB_DIR=$("$PG_CONFIG" --pkglibdir)

# 2. pgvector from Debian's source package --------------------------------------------
control_version() { sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" "$1" 2>/dev/null; }

if [ "$(control_version "$EXT_DIR/vector.control")" != "$VECTOR_VERSION" ] || [ ! -f "$LIB_DIR/vector.so" ]; then
  [ "$(id -u)" -eq 0 ] || fail "needs root to install pgvector $VECTOR_VERSION"
  # The archive URI apt already uses for this release (from sources.list or
  # sources.list.d/*.sources, as apt itself resolves them); no host is named here.
  # shellcheck disable=SC1091
  codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || fail 'cannot tell the Debian codename from /etc/os-release'
  # shellcheck disable=SC2016 # $(REPO_URI) is apt's format field, not a shell expansion
  uri=$(apt-get indextargets --format '$(REPO_URI)' "Release: $codename" 'Target-Of: deb' 2>/dev/null | head -n 1 || true)
  if [ -z "$uri" ]; then # older apt: read the files directly (deb822 first, then one-line)
    uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v c="$codename" '
      BEGIN { RS = ""; FS = "\n" }
      { t = u = s = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:/) t = " " substr($i, 7) " "
          else if ($i ~ /^URIs:/) { u = substr($i, 6); sub(/^[ \t]+/, "", u); sub(/[ \t].*/, "", u) }
          else if ($i ~ /^Suites:/) s = " " substr($i, 8) " "
        }
        if (t ~ /[ \t]deb[ \t]/ && s ~ ("[ \t]" c "[ \t]") && u != "") { print u; exit } }' || true)
  fi
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed -e 's/\[[^]]*\]//' | awk -v c="$codename" '$1 == "deb" && $3 == c { print $2; exit }' || true)
  fi
  [ -n "$uri" ] || fail "no 'deb' entry for $codename in apt's sources to take the archive URI from"

  apt_dir=$WORK/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/parts" "$apt_dir/cache" "$WORK/pgvector"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  if [ -f "$keyring" ]; then opts="[signed-by=$keyring] "; else opts=''; fi
  printf 'deb-src %s%s %s main\n' "$opts" "$uri" "$SOURCE_SUITE" >"$apt_dir/sources.list"
  apt_src=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.list"
    -o "Dir::Etc::SourceParts=$apt_dir/parts"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache=$apt_dir/cache"
    -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
    -o Acquire::Languages=none
    -o APT::Sandbox::User=root
  )
  quietly "apt-get update ($SOURCE_SUITE deb-src only)" apt-get -q "${apt_src[@]}" update
  cd "$WORK/pgvector"
  quietly 'apt-get source pgvector' apt-get -q "${apt_src[@]}" source pgvector
  cd "$ROOT"
  src=$(find "$WORK/pgvector" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n 1 || true)
  [ -n "$src" ] || fail 'apt-get source pgvector unpacked nothing'
  got=$(control_version "$src/vector.control")
  [ "$got" = "$VECTOR_VERSION" ] || fail "$SOURCE_SUITE's pgvector source is $got, expected $VECTOR_VERSION"
  # OPTFLAGS= as Debian builds it (upstream defaults to -march=native).
  quietly 'build pgvector' make -C "$src" -j"$(nproc)" PG_CONFIG="$PG_CONFIG" OPTFLAGS=
  quietly 'install pgvector' make -C "$src" PG_CONFIG="$PG_CONFIG" OPTFLAGS= install
  rm -rf "$apt_dir" "$WORK/pgvector"
fi

# 3. pgmq from the PGlite package's SQL files ------------------------------------------
pgmq_tar=$(find "$ROOT/node_modules/@electric-sql/pglite-pgmq/dist" -name pgmq.tar.gz 2>/dev/null | head -n 1 || true)
[ -n "$pgmq_tar" ] || fail 'node_modules/@electric-sql/pglite-pgmq/dist/**/pgmq.tar.gz not found (run npm ci)'
mkdir -p "$WORK/pgmq"
quietly 'unpack pgmq.tar.gz' tar -xzf "$pgmq_tar" -C "$WORK/pgmq"
pgmq_files=$(find "$WORK/pgmq" -type f \( -name 'pgmq.control' -o -name 'pgmq--*.sql' \))
pgmq_control=$(printf '%s\n' "$pgmq_files" | grep '/pgmq\.control$' | head -n 1 || true)
[ -n "$pgmq_control" ] || fail "no pgmq.control in $pgmq_tar"
got=$(control_version "$pgmq_control")
[ "$got" = "$PGMQ_VERSION" ] || fail "pgmq.tar.gz holds pgmq $got, expected $PGMQ_VERSION"
need_copy=0
while IFS= read -r f; do
  cmp -s "$f" "$EXT_DIR/$(basename "$f")" || need_copy=1
done <<<"$pgmq_files"
if [ "$need_copy" = 1 ]; then
  [ -w "$EXT_DIR" ] || fail "cannot write $EXT_DIR (needs root)"
  # shellcheck disable=SC2086 # file names from the tarball, no spaces
  install -m 644 $pgmq_files "$EXT_DIR/"
fi
rm -rf "$WORK/pgmq"

# 4. A throwaway server ----------------------------------------------------------------
install -d -m 700 "$DATA" "$SOCK"
[ "$(id -u)" -ne 0 ] || chown postgres:postgres "$DATA" "$SOCK"
quietly 'initdb' as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=$FIRST_PORT
while port_busy "$PORT"; do
  PORT=$((PORT + 1))
  [ "$PORT" -lt $((FIRST_PORT + 50)) ] || fail "no free port in $FIRST_PORT..$PORT"
done
if ! as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 -o "-c listen_addresses=127.0.0.1 -c port=$PORT \
  -c unix_socket_directories=$SOCK -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >"$LOG" 2>&1; then
  printf 'postgres15: FAILED: start PostgreSQL %s on 127.0.0.1:%s\n' "$PG_MAJOR" "$PORT" >&2
  cat "$LOG" "$DATA/server.log" 2>/dev/null | sed 's/^/  | /' >&2
  exit 1
fi

export PGHOST=$SOCK PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres PGAPPNAME=konstruct-ci-pg15
unset PGPASSWORD PGSERVICE PGOPTIONS
psql_run() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

server_version=$(psql_run -At -c 'show server_version')

# Each SQL step: on failure, show psql's error (file:line: ERROR ...) and stop.
apply() {
  local file=$1
  shift
  if ! psql_run "$@" -f "$file" >"$LOG" 2>&1; then
    printf 'postgres15: FAILED applying %s on PostgreSQL %s\n' "$file" "$server_version" >&2
    sed 's/^/  | /' "$LOG" >&2
    exit 1
  fi
}

apply local/platform.sql
migrations=0
while IFS= read -r f; do
  [ -n "$f" ] || continue
  apply "$f" -1
  migrations=$((migrations + 1))
done < <(find supabase/migrations -maxdepth 1 -type f -name '*.sql' 2>/dev/null | LC_ALL=C sort)
seeded=no
if [ -f supabase/seed.sql ]; then
  apply supabase/seed.sql -1
  seeded=yes
fi
say "postgres15: PostgreSQL $server_version: platform.sql, $migrations migration(s), seed: $seeded"

# 5. pgTAP -----------------------------------------------------------------------------
files=0 failed_files=0 total_pass=0 total_fail=0
while IFS= read -r f; do
  [ -n "$f" ] || continue
  files=$((files + 1))
  out=$WORK/tap.out err=$WORK/tap.err
  rc=0
  psql_run -At -f "$f" >"$out" 2>"$err" || rc=$?
  pass=$(grep -cE '^ok [0-9]+' "$out" || true)
  nfail=$(grep -cE '^not ok [0-9]+' "$out" || true)
  plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$out" | tail -n 1)
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + nfail))
  if [ "$rc" -eq 0 ] && [ "$nfail" -eq 0 ] && [ -n "$plan" ] && [ "$plan" -eq $((pass + nfail)) ]; then
    say "ok     $f ($pass/$plan passed)"
  else
    failed_files=$((failed_files + 1))
    say "FAILED $f ($pass/${plan:-?} passed)"
    grep -vE '^ok [0-9]+' "$out" | sed 's/^/       /' || true
    [ "$rc" -eq 0 ] || sed 's/^/       error: /' "$err"
    [ "${plan:-x}" = $((pass + nfail)) ] || say "       planned ${plan:-nothing}, ran $((pass + nfail))"
  fi
done < <(find supabase/tests -type f -name '*.test.sql' 2>/dev/null | LC_ALL=C sort)

say "postgres15: $files test file(s), $total_pass passed, $total_fail failed, $failed_files file(s) failed, $((SECONDS - started))s"
[ "$failed_files" -eq 0 ] || exit 1
