#!/usr/bin/env bash
# Bundles the transcoder (its own TypeScript and shared/) into one ES module with a source map; every npm
# dependency stays external and is resolved from node_modules at run time. transcoder/Dockerfile builds
# the image's dist/transcoder.mjs with it, and transcoder/test/bundle.test.ts runs the result.
# Usage: transcoder/bundle.sh OUTFILE   (ESBUILD: the esbuild binary, default node_modules/.bin/esbuild)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: transcoder/bundle.sh OUTFILE}"
esbuild="${ESBUILD:-node_modules/.bin/esbuild}"
externals="$(node -p "
  const deps = ['transcoder', 'shared'].flatMap((w) => Object.keys(require('./' + w + '/package.json').dependencies ?? {}));
  [...new Set(deps)].filter((name) => !name.startsWith('@streamlet/')).map((name) => '--external:' + name).join(' ')
")"
# shellcheck disable=SC2086 # one word per --external flag
"$esbuild" transcoder/src/main.ts --bundle --platform=node --format=esm --target=node24 --sourcemap \
  --log-level=warning --outfile="$out" $externals
