# Sourced by scripts/demo.sh and scripts/install-system-deps.sh.
# quiet_step <log> <label> <command...>: prints "<label> … ok" or "… failed" on one line; the command's own
# output goes to <log>, whose last 30 lines are shown (and the script exits 1) when it fails.
quiet_step() {
  local log=$1 label=$2
  shift 2
  printf '%s … ' "$label" >&2
  if "$@" >>"$log" 2>&1; then
    echo "ok" >&2
  else
    echo "failed" >&2
    echo "full log: $log; its last 30 lines:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
}
