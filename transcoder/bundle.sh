#!/usr/bin/env bash
# Bundles the transcoder (its own TypeScript and shared/) into one ES module with a source map; every npm
# dependency stays external and is resolved from node_modules at run time. transcoder/Dockerfile builds
# the image's dist/transcoder.mjs with it, and transcoder/test/bundle.test.ts runs the result. External
# packages keep their own files: bull-board's page template and static files (the /queues dashboard) are
# read from node_modules/@bull-board/ui at run time, never copied into dist/.
# Usage: transcoder/bundle.sh OUTFILE [ENTRY]   (ENTRY: default transcoder/src/main.ts; the bundle test
# passes another to serve the dashboard alone; ESBUILD: the esbuild binary, default node_modules/.bin/esbuild)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: transcoder/bundle.sh OUTFILE [ENTRY]}"
entry="${2:-transcoder/src/main.ts}"
esbuild="${ESBUILD:-node_modules/.bin/esbuild}"
externals="$(node -p "
  const deps = ['transcoder', 'shared'].flatMap((w) => Object.keys(require('./' + w + '/package.json').dependencies ?? {}));
  [...new Set(deps)].filter((name) => !name.startsWith('@streamlet/')).map((name) => '--external:' + name).join(' ')
")"
# shellcheck disable=SC2086 # one word per --external flag
"$esbuild" "$entry" --bundle --platform=node --format=esm --target=node24 --sourcemap \
  --log-level=warning --outfile="$out" $externals
