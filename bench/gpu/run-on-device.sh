#!/usr/bin/env bash
# What we run on a lent GPU box (see pack.sh): the transcoder's start-up encoder decision with
# ENCODER=nvenc and ENCODER=auto (its /healthz and /metrics included), then the per-encoder ladder
# benchmark on a carried source. Results go to $OUT (the device tool brings them back).
#   carry: .device/bundle.tar.xz .device/unpack.sh .device/source.mp4
set -uo pipefail
REPO="$(pwd)"
OUT="${OUT:-/tmp/sl-out}"
mkdir -p "$OUT"
bash .device/unpack.sh >/dev/null
# shellcheck disable=SC1091
source /tmp/sl/env.sh
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
export REDIS_URL=redis://127.0.0.1:6390 S3_ENDPOINT=http://127.0.0.1:1 S3_BUCKET=b \
  S3_ACCESS_KEY_ID=a S3_SECRET_ACCESS_KEY=b EDGE_URL=http://127.0.0.1:1 \
  TRANSCODER_SECRET=0123456789abcdef
cd /tmp/sl/js
echo "== ENCODER=nvenc (must refuse to start: no NVENC on this GPU)"
ENCODER=nvenc timeout 60 node main.mjs >"$OUT/nvenc.log" 2>&1
echo "exit code: $?" | tee -a "$OUT/nvenc.log"
cat "$OUT/nvenc.log"
echo "== ENCODER=auto (falls back to libx264 and says why; no Redis here, so /healthz says redis_down)"
ENCODER=auto OPS_PORT=19464 timeout 40 node main.mjs >"$OUT/auto.log" 2>&1 &
sleep 25
node -e 'const u="http://127.0.0.1:19464";Promise.all([fetch(u+"/healthz").then(async r=>r.status+" "+await r.text()),fetch(u+"/metrics").then(r=>r.text())]).then(([h,m])=>console.log(h+"\n"+m.split("\n").filter(l=>l&&!l.startsWith("#")).join("\n")))' | tee "$OUT/ops.txt"
wait
grep -a '"encoder selected"\|"ready"' "$OUT/auto.log" | cut -c1-600
echo "== ladder benchmark per encoder"
BENCH_SOURCE="$REPO/.device/source.mp4" BENCH_REPEAT="${BENCH_REPEAT:-2}" node encoders.mjs 2>&1 | tee "$OUT/bench.txt"
cp /tmp/sl/js/out/encoders/results.json "$OUT/" 2>/dev/null || true
