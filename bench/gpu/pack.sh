#!/usr/bin/env bash
# Pack a self-contained bundle for the GPU box (Ubuntu 24.04, NVIDIA driver, no node/ffmpeg/internet).
#
#   bash bench/gpu/pack.sh [entry.ts ...]
#
# Produces (all under <repo>/.device/, which must stay gitignored):
#   ffmpeg/ffmpeg, ffmpeg/ffprobe   minimal static-ish ffmpeg 5.1 (built by build-ffmpeg.sh if missing)
#   js/<name>.mjs                   each entry bundled by esbuild (node20, esm, all deps inlined)
#   bundle.tar.xz (or .tar.gz)      bin/{node,ffmpeg,ffprobe} + lib/ + js/ + VERSIONS
#   unpack.sh                       extracts to /tmp/sl (or $SL_DIR) and prints versions
#
# On the device (repo copy at cwd, carry .device/bundle.tar.xz and .device/unpack.sh):
#   bash .device/unpack.sh && /tmp/sl/bin/node /tmp/sl/js/<name>.mjs
#   (/tmp/sl/env.sh puts /tmp/sl/bin first on PATH and sets FFMPEG_PATH / FFPROBE_PATH.)
#
# Env: COMPRESS=xz|gz (default xz), SKIP_NODE=1 (omit node binary).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEV="$REPO_ROOT/.device"
COMPRESS="${COMPRESS:-xz}"
log() { printf '[pack] %s\n' "$*" >&2; }

mkdir -p "$DEV"

# (i) ffmpeg
if [[ ! -x "$DEV/ffmpeg/ffmpeg" || ! -x "$DEV/ffmpeg/ffprobe" ]]; then
  log "no .device/ffmpeg — building (≈10-15 min on 2 cores)"
  OUT_DIR="$DEV/ffmpeg" bash "$REPO_ROOT/bench/gpu/build-ffmpeg.sh"
else
  log "reusing $DEV/ffmpeg"
fi

# (ii) JS bundles
mkdir -p "$DEV/js"
ESBUILD="$REPO_ROOT/node_modules/.bin/esbuild"
[[ -x "$ESBUILD" ]] || { log "esbuild not found at $ESBUILD (run npm ci)"; exit 1; }
# ESM output still meets CommonJS deps that call require()/__dirname (ioredis, prom-client, ...).
BANNER='import { createRequire as __slCreateRequire } from "node:module"; import { fileURLToPath as __slFileURLToPath } from "node:url"; import { dirname as __slDirname } from "node:path"; const require = __slCreateRequire(import.meta.url); const __filename = __slFileURLToPath(import.meta.url); const __dirname = __slDirname(__filename);'
for entry in "$@"; do
  [[ -f "$entry" ]] || { log "entry not found: $entry"; exit 1; }
  name="$(basename "$entry")"
  name="${name%.*}"
  log "esbuild $entry -> .device/js/$name.mjs"
  # Run from the repo root so workspace packages (@streamlet/shared) resolve like under tsx.
  (cd "$REPO_ROOT" && "$ESBUILD" "$(realpath "$entry")" \
    --bundle --platform=node --format=esm --target=node20 \
    --main-fields=module,main --legal-comments=none --log-level=warning \
    --banner:js="$BANNER" \
    --outfile="$DEV/js/$name.mjs")
done

# (iii) stage + archive
STAGE="$(mktemp -d /tmp/sl-stage.XXXXXX)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/sl/bin" "$STAGE/sl/lib" "$STAGE/sl/js"
cp "$DEV/ffmpeg/ffmpeg" "$DEV/ffmpeg/ffprobe" "$STAGE/sl/bin/"
cp -r "$DEV/js/." "$STAGE/sl/js/" 2>/dev/null || true

if [[ -z "${SKIP_NODE:-}" ]]; then
  NODE_BIN="$(readlink -f "$(command -v node)")"
  case "$(node -v)" in v20.*) ;; *) log "WARNING: local node is $(node -v), not 20.x" ;; esac
  cp "$NODE_BIN" "$STAGE/sl/bin/node.real"
  strip "$STAGE/sl/bin/node.real" 2>/dev/null || true
  # Fallback C++ runtime (Debian 12's); only used if the device lacks libstdc++.so.6 / libgcc_s.so.1.
  for l in libstdc++.so.6 libgcc_s.so.1; do
    cp -L "/lib/x86_64-linux-gnu/$l" "$STAGE/sl/lib/$l"
  done
  cat >"$STAGE/sl/bin/node" <<'EOF'
#!/bin/sh
# Wrapper: use the device's own libstdc++/libgcc_s (newer on Ubuntu 24.04); fall back to ours.
d="$(dirname "$(readlink -f "$0")")"
if ! ldconfig -p 2>/dev/null | grep -q 'libstdc++\.so\.6 ' || ! ldconfig -p 2>/dev/null | grep -q 'libgcc_s\.so\.1 '; then
  export LD_LIBRARY_PATH="$d/../lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
exec "$d/node.real" "$@"
EOF
  chmod +x "$STAGE/sl/bin/node"
fi

cat >"$STAGE/sl/env.sh" <<'EOF'
# source /tmp/sl/env.sh
SL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"
export PATH="$SL_DIR/bin:$PATH"
export FFMPEG_PATH="$SL_DIR/bin/ffmpeg"
export FFPROBE_PATH="$SL_DIR/bin/ffprobe"
EOF

{
  echo "packed: $(date -u +%FT%TZ) from $(cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
  [[ -z "${SKIP_NODE:-}" ]] && echo "node: $(node -v)"
  "$DEV/ffmpeg/ffmpeg" -hide_banner -version | head -1
  echo "js: $(cd "$STAGE/sl/js" && ls | tr '\n' ' ')"
} >"$STAGE/sl/VERSIONS"

rm -f "$DEV"/bundle.tar.*
if [[ "$COMPRESS" == xz ]]; then
  ARCHIVE="$DEV/bundle.tar.xz"
  tar -C "$STAGE" -cf - sl | xz -T0 -9 >"$ARCHIVE"
else
  ARCHIVE="$DEV/bundle.tar.gz"
  tar -C "$STAGE" -cf - sl | gzip -9 >"$ARCHIVE"
fi

cat >"$DEV/unpack.sh" <<'EOF'
#!/usr/bin/env bash
# Extract the Streamlet GPU bundle to $SL_DIR (default /tmp/sl) and print versions.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SL_DIR="${SL_DIR:-/tmp/sl}"
ARCHIVE="$(ls "$HERE"/bundle.tar.xz "$HERE"/bundle.tar.gz 2>/dev/null | head -1 || true)"
[[ -n "$ARCHIVE" ]] || { echo "no bundle.tar.{xz,gz} next to $0" >&2; exit 1; }
rm -rf "$SL_DIR"; mkdir -p "$SL_DIR"
case "$ARCHIVE" in
  *.xz)
    if command -v xz >/dev/null; then xz -dc "$ARCHIVE" | tar -x -C "$SL_DIR" --strip-components=1
    elif command -v python3 >/dev/null; then
      python3 -c 'import lzma,sys,shutil; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$ARCHIVE" \
        | tar -x -C "$SL_DIR" --strip-components=1
    else echo "need xz or python3 to extract $ARCHIVE" >&2; exit 1; fi ;;
  *.gz) gzip -dc "$ARCHIVE" | tar -x -C "$SL_DIR" --strip-components=1 ;;
esac
cat "$SL_DIR/VERSIONS"
[[ -x "$SL_DIR/bin/node" ]] && echo "node runs: $("$SL_DIR/bin/node" -v)"
"$SL_DIR/bin/ffmpeg" -hide_banner -version | head -1
"$SL_DIR/bin/ffmpeg" -hide_banner -hwaccels | tr '\n' ' '; echo
"$SL_DIR/bin/ffmpeg" -hide_banner -encoders 2>/dev/null | grep -E 'nvenc|libx264' || true
echo "ready: source $SL_DIR/env.sh   (PATH, FFMPEG_PATH, FFPROBE_PATH)"
EOF
chmod +x "$DEV/unpack.sh"

log "archive: $ARCHIVE ($(du -h "$ARCHIVE" | cut -f1))"
tar -tvf "$ARCHIVE" >&2
