#!/usr/bin/env bash
# Stop what up.sh started (SIGTERM: each service finishes in-flight work and flushes its outbox).
cd "$(dirname "$0")/../.."
for pidfile in var/run/*.pid; do
  [ -e "$pidfile" ] || continue
  name=$(basename "$pidfile" .pid)
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" && echo "stopping $name ($pid)"
  fi
  rm -f "$pidfile"
done
