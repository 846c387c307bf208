#!/usr/bin/env bash
# `npm run demo [-- <video file>]`: installs what is missing, then runs the main job end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
if [ ! -x node_modules/.bin/tsx ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi
exec node_modules/.bin/tsx scripts/demo.ts "$@"
