#!/usr/bin/env bash
# Proves src/db/schema.rs is exactly what Diesel generates from migrations/: applies the migrations to a
# scratch database with diesel_cli, compares `diesel print-schema` with the file, then reverts every
# migration and applies them again (each down.sql must work). Installs diesel_cli (SQLite, bundled) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v diesel >/dev/null 2>&1 || ! diesel --version 2>/dev/null | grep -q 'Version: 2\.'; then
  echo "Installing diesel_cli (once; about 2-3 minutes)…" >&2
  cargo install diesel_cli --version '^2.3' --no-default-features --features sqlite-bundled --locked --quiet
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A config without [print_schema], so that running migrations does not rewrite src/db/schema.rs.
printf '[migrations_directory]\ndir = "%s"\n' "$PWD/migrations" > "$tmp/diesel.toml"
export DATABASE_URL="$tmp/schema.db"
diesel --config-file "$tmp/diesel.toml" migration run >/dev/null
diesel --config-file "$tmp/diesel.toml" print-schema > "$tmp/schema.rs"
if ! diff -u src/db/schema.rs "$tmp/schema.rs"; then
  echo "error: src/db/schema.rs differs from what the migrations generate (above). Regenerate it with:" >&2
  echo "  DATABASE_URL=/tmp/x.db diesel migration run && DATABASE_URL=/tmp/x.db diesel print-schema > src/db/schema.rs" >&2
  exit 1
fi
diesel --config-file "$tmp/diesel.toml" migration redo --all >/dev/null
diesel --config-file "$tmp/diesel.toml" print-schema | diff -q - "$tmp/schema.rs" >/dev/null
echo "schema.rs matches the migrations; every migration reverts and re-applies." >&2
