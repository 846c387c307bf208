#!/usr/bin/env bash
# `npm run check:generated`: fails when a committed generated file is stale. Regenerates, in place,
#   - edge/worker-configuration.d.ts (the Worker's Env and runtime types: `wrangler types`, from
#     wrangler.toml and edge/secrets.env.example, for the pinned wrangler/workerd), and
#   - shared/src/api-types.ts (`npm run api:types`, from the edge's OpenAPI document),
# and compares each with what was there before. On a difference it prints the diff and leaves the fresh
# file in place: commit it. Run through npm (or npx) so node_modules/.bin (Node 24, wrangler) is on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
stale=0

# check FILE HOW-TO-REGENERATE COMMAND...: runs COMMAND, then compares FILE with its copy from before.
check() {
  local file="$1" how="$2"
  shift 2
  local before
  before="$tmp/$(basename "$file").before"
  cp "$file" "$before"
  if ! "$@" >"$tmp/log" 2>&1; then
    cat "$tmp/log" >&2
    echo "check-generated: regenerating $file failed ($how)" >&2
    exit 1
  fi
  if cmp -s "$before" "$file"; then
    echo "check-generated: $file is up to date"
  else
    echo "check-generated: $file is STALE: regenerate it with \`$how\` and commit the result. Difference:" >&2
    diff -u --label "$file (committed)" --label "$file (regenerated)" "$before" "$file" | head -n 60 >&2 || true
    stale=1
  fi
}

check edge/worker-configuration.d.ts \
  "npx wrangler types edge/worker-configuration.d.ts --env-file edge/secrets.env.example" \
  npx wrangler types edge/worker-configuration.d.ts --env-file edge/secrets.env.example
check shared/src/api-types.ts "npm run api:types" npm run api:types

if [ "$stale" -ne 0 ]; then
  echo "check-generated: generated files are stale (see above)" >&2
  exit 1
fi
