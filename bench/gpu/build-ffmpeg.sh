#!/usr/bin/env bash
# Build a minimal, (almost) self-contained ffmpeg + ffprobe for the GPU box.
#
# Output: $OUT_DIR/ffmpeg and $OUT_DIR/ffprobe (default: <repo>/.device/ffmpeg/).
# Runtime deps: glibc only (libc, libm, libdl, libpthread). libx264 and zlib are
# linked statically; libcuda.so.1 / libnvidia-encode.so.1 / libnvcuvid.so.1 are
# dlopen()ed at runtime by ffnvcodec, so they come from the NVIDIA driver.
#
# Build host: Debian 12 (bookworm). Needs (installed automatically if root):
#   nasm pkg-config libx264-dev libffmpeg-nvenc-dev clang zlib1g-dev xz-utils dpkg-dev
# Source: Debian's ffmpeg 5.1.x orig tarball (apt-get source; deb-src must be
# configured — see ensure_src below).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT_DIR="${OUT_DIR:-$REPO_ROOT/.device/ffmpeg}"
WORK="${FFBUILD_DIR:-/tmp/ffbuild}"
JOBS="${JOBS:-$(nproc)}"

log() { printf '[build-ffmpeg] %s\n' "$*" >&2; }

ensure_deps() {
  local need=()
  for p in nasm pkg-config libx264-dev libffmpeg-nvenc-dev clang zlib1g-dev xz-utils dpkg-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if ((${#need[@]})); then
    log "installing: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

ensure_src() {
  mkdir -p "$WORK"
  cd "$WORK"
  local dir
  dir="$(ls -d ffmpeg-[0-9]*/ 2>/dev/null | head -1 || true)"
  if [[ -n "$dir" ]]; then SRC="$WORK/${dir%/}"; return; fi
  if ! ls ffmpeg_*.orig.tar.* >/dev/null 2>&1; then
    if ! grep -rqs 'deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
      log "adding deb-src for bookworm (/etc/apt/sources.list.d/debian-src.sources)"
      cat >/etc/apt/sources.list.d/debian-src.sources <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
      apt-get update -qq
    fi
    apt-get source --download-only ffmpeg
  fi
  tar xf ffmpeg_*.orig.tar.*
  dir="$(ls -d ffmpeg-[0-9]*/ | head -1)"
  SRC="$WORK/${dir%/}"
}

main() {
  ensure_deps
  ensure_src
  # Force static libx264 / zlib: a dir containing only the .a files, searched first.
  local sdir="$WORK/staticlibs"
  mkdir -p "$sdir"
  ln -sf /usr/lib/x86_64-linux-gnu/libx264.a "$sdir/libx264.a"
  ln -sf /usr/lib/x86_64-linux-gnu/libz.a "$sdir/libz.a"

  local build="$WORK/build"
  mkdir -p "$build"
  cd "$build"
  log "configuring $SRC"
  local t0=$SECONDS
  "$SRC/configure" \
    --prefix="$WORK/prefix" \
    --enable-static --disable-shared \
    --disable-doc --disable-debug --disable-autodetect --disable-everything \
    --enable-gpl --enable-version3 \
    --enable-pthreads --enable-zlib --enable-libx264 \
    --enable-ffnvcodec --enable-nvenc --enable-nvdec --enable-cuvid --enable-cuda-llvm \
    --enable-avdevice --enable-swscale --enable-swresample --enable-avfilter \
    --enable-ffmpeg --enable-ffprobe --disable-ffplay \
    --enable-encoder=libx264,h264_nvenc,hevc_nvenc,aac,mjpeg,png,mpeg4,mp2,rawvideo,wrapped_avframe,pcm_s16le \
    --enable-decoder=h264,hevc,vp8,vp9,av1,mpeg4,mpeg2video,mpeg1video,h263,prores,mjpeg,png,rawvideo,wrapped_avframe,aac,aac_latm,mp3,mp3float,mp2,opus,vorbis,flac,ac3,eac3,alac,pcm_s16le,pcm_s24le,pcm_s32le,pcm_f32le,pcm_s16be,h264_cuvid,hevc_cuvid,vp9_cuvid,av1_cuvid \
    --enable-hwaccel=h264_nvdec,hevc_nvdec,vp8_nvdec,vp9_nvdec,av1_nvdec,mpeg2_nvdec,mpeg4_nvdec \
    --enable-demuxer=nut,mov,matroska,mpegts,avi,flv,hls,image2,image_png_pipe,image_jpeg_pipe,wav,mp3,aac,ogg,flac,concat,rawvideo,h264,hevc \
    --enable-muxer=nut,hls,mp4,mov,ipod,null,image2,image2pipe,mpegts,matroska,webm,wav,adts,mjpeg,h264,rawvideo,segment,framemd5,md5 \
    --enable-parser=h264,hevc,aac,aac_latm,vp8,vp9,av1,mpeg4video,mpegvideo,mpegaudio,opus,vorbis,flac,ac3,mjpeg,png \
    --enable-bsf=h264_mp4toannexb,hevc_mp4toannexb,aac_adtstoasc,extract_extradata,null,vp9_superframe \
    --enable-protocol=file,pipe,http,tcp,crypto,data,concat,hls \
    --enable-indev=lavfi \
    --enable-filter=scale,scale_cuda,thumbnail_cuda,yadif_cuda,hwupload_cuda,hwupload,hwdownload,hwmap,format,fps,split,asplit,setsar,setdar,setpts,asetpts,transpose,hflip,vflip,null,anull,copy,aresample,aformat,volume,apad,atrim,trim,testsrc2,testsrc,sine,color,anullsrc,nullsrc,thumbnail,select,aselect,pad,crop,tile,concat,showinfo,yadif,fifo,afifo,scale2ref \
    --pkg-config-flags=--static \
    --extra-cflags="-O2" \
    --extra-ldflags="-L$sdir -static-libgcc" \
    >"$WORK/configure.log" 2>&1 || { tail -40 "$WORK/configure.log"; tail -40 ffbuild/config.log; exit 1; }
  grep -E '^(configuration|External libraries|External libraries providing hardware acceleration)' -A3 "$WORK/configure.log" >&2 || true
  log "make -j$JOBS"
  make -j"$JOBS" ffmpeg ffprobe >"$WORK/make.log" 2>&1 || { tail -40 "$WORK/make.log"; exit 1; }
  mkdir -p "$OUT_DIR"
  strip -o "$OUT_DIR/ffmpeg" ffmpeg
  strip -o "$OUT_DIR/ffprobe" ffprobe
  log "built in $((SECONDS - t0))s -> $OUT_DIR"
  ldd "$OUT_DIR/ffmpeg" >&2 || true
  ls -la "$OUT_DIR" >&2
}

main "$@"
