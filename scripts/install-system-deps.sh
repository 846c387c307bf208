#!/usr/bin/env bash
# Installs the system packages Streamlet runs on (ffmpeg, redis-server, postgresql) when they are missing.
# Debian/Ubuntu with apt-get; as root or through sudo. Pass extra package names as arguments.
# With STREAMLET_INSTALL_LOG=<file> it prints one line (and ok/failed) instead of apt's output, which goes
# to that file; on failure it prints the file's path and its last 30 lines. Without it, apt's output shows.
set -euo pipefail

log="${STREAMLET_INSTALL_LOG:-}"
missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing+=(postgresql)
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  [ -n "$log" ] && echo "system packages (ffmpeg redis-server postgresql${*:+ $*}): already installed" >&2
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "Missing: ${missing[*]}. Install them with your package manager and run again." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "Missing: ${missing[*]}; run as root or install sudo." >&2; exit 1; }
  sudo="sudo"
fi

install() {
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

if [ -z "$log" ]; then
  echo "Installing: ${missing[*]}" >&2
  install >&2
  exit 0
fi

# Asks for the password (if any) before the progress line, not in the middle of it.
[ -n "$sudo" ] && sudo -v
# shellcheck source=lib/quiet-step.sh
source "$(dirname "$0")/lib/quiet-step.sh"
quiet_step "$log" "installing system packages: ${missing[*]}" install
