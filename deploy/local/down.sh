#!/usr/bin/env bash
# Stop what up.sh started (SIGTERM: each service finishes in-flight work and flushes its outbox;
# each sandbox saves its state file). The sandbox shop goes first (no new orders), the sandbox
# Fortnox last (in-flight writes finish).
#
#   deploy/local/down.sh           stop; the next up.sh continues where this run stopped
#   deploy/local/down.sh --clean   stop, then remove the sandboxes' state files (var/sandbox/) AND
#                                  drop Ordreflyt's database (DATABASE_URL, default
#                                  postgresql://postgres@localhost:5432/ordreflyt), so both sides
#                                  start empty together
set -uo pipefail
cd "$(dirname "$0")/../.."
clean=false
for arg in "$@"; do
  case "$arg" in
    --clean) clean=true ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "down.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

still_running=()
for name in sandbox-woocommerce intake order-mapper erp-writer fulfillment-listener stock-syncer sandbox-fortnox; do
  pidfile="var/run/$name.pid"
  [ -e "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" && echo "stopping $name ($pid)"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  if kill -0 "$pid" 2>/dev/null; then
    still_running+=("$name ($pid)")
  else
    rm -f "$pidfile"
  fi
done

if [ ${#still_running[@]} -gt 0 ]; then
  echo "still running after 20 s: ${still_running[*]}" >&2
  $clean && echo "not cleaning: a running sandbox would write its state again" >&2
  exit 1
fi

if $clean; then
  # The same defaults as in up.sh.
  WOO_STATE_FILE="${WOO_STATE_FILE:-var/sandbox/woocommerce.json}"
  FORTNOX_STATE_FILE="${FORTNOX_STATE_FILE:-var/sandbox/fortnox.json}"
  if [ ! -x .venv/bin/python ]; then
    source deploy/local/ensure-uv.sh
    uv sync --frozen --quiet
  fi
  .venv/bin/python deploy/local/local_state.py clean "$WOO_STATE_FILE" "$FORTNOX_STATE_FILE"
fi
