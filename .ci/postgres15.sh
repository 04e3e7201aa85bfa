#!/usr/bin/env bash
# Installs PostgreSQL 15 with pgvector 0.8.0 and pgmq on a Debian CI machine, for the
# lanes that run the local stack on a native server (.ci/native.sh, `test-db --db
# native`). It used to also run local/platform.sql, the migrations and the pgTAP suite on
# that server (the "shim lane"); that is now covered twice over and was dropped: by
# ../shared/supabase-upstream/run.sh (the migrations, seed and pgTAP suite on Supabase's
# own platform schema on PostgreSQL 15, `postgres` not a superuser; its `shim` mode is
# the old lane plus a catalog diff) and by the native lanes (the shim through local/).
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
# Quiet on success apart from one line; on failure prints what apt/make said and exits
# non-zero.
set -Eeuo pipefail

PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_CONFIG=$PG_BIN/pg_config
VECTOR_VERSION=0.8.0
PGMQ_VERSION=1.11.1
SOURCE_SUITE=trixie # the Debian release whose pgvector source is 0.8.0
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
LOG=$WORK/step.log

cleanup() {
  local status=$?
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

say "postgres15: PostgreSQL $PG_MAJOR with pgvector $VECTOR_VERSION and pgmq $PGMQ_VERSION installed ($((SECONDS - started))s)"
