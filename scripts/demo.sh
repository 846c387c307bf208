#!/usr/bin/env bash
# `npm run demo [-- <video file>]`: installs what is missing, then runs the main job end to end.
# Each install step prints one line; their full output goes to .data/install.log (shown on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .data
log=.data/install.log
: >"$log"

# shellcheck source=lib/quiet-step.sh
source scripts/lib/quiet-step.sh

STREAMLET_INSTALL_LOG="$log" bash scripts/install-system-deps.sh
if [ ! -x node_modules/.bin/tsx ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  quiet_step "$log" "npm ci (npm packages)" npm ci --no-audit --no-fund
fi
# node --import tsx, not the tsx CLI: the CLI SIGKILLs its child when a relayed Ctrl-C is not
# acknowledged within 60 ms, which would cut the demo's own clean shutdown short.
exec node --import tsx scripts/demo.ts "$@"
