#!/usr/bin/env bash
# Stop what up.sh started (SIGTERM: each service finishes in-flight work and flushes its outbox).
# The sandbox shop goes first (no new orders), the sandbox Fortnox last (in-flight writes finish).
cd "$(dirname "$0")/../.."
for name in sandbox-woocommerce intake order-mapper erp-writer fulfillment-listener stock-syncer sandbox-fortnox; do
  pidfile="var/run/$name.pid"
  [ -e "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" && echo "stopping $name ($pid)"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$pidfile"
done
