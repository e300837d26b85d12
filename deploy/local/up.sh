#!/usr/bin/env bash
# Install everything and start the whole pipeline on this machine: the sandbox shop (with sample
# orders trickling in) and Fortnox, intake, order-mapper and erp-writer, against the RabbitMQ and
# PostgreSQL on localhost (AMQP_URL / DATABASE_URL override). Logs: var/log/. Stop: down.sh.
# The sandboxes keep their state in var/sandbox/ (WOO_STATE_FILE / FORTNOX_STATE_FILE override),
# as Ordreflyt keeps its own in its database, so a second up.sh continues the first run.
# Start both sides clean: down.sh --clean.
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/local/ensure-uv.sh
uv sync --frozen --quiet

if command -v rabbitmq-plugins >/dev/null 2>&1; then
  rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null 2>&1 \
    || echo "note: could not enable the RabbitMQ management plugin (rabbitmq-plugins enable rabbitmq_management)"
fi

export ORDREFLYT_CONFIG="${ORDREFLYT_CONFIG:-deploy/config/ordreflyt.toml}"
export FULFILLMENT_PUSH_SECRET="${FULFILLMENT_PUSH_SECRET:-sandbox-push-secret}"
ORDERS_PER_SECOND="${ORDERS_PER_SECOND:-0.2}"
# The same defaults are in down.sh, which removes these files with --clean.
export WOO_STATE_FILE="${WOO_STATE_FILE:-var/sandbox/woocommerce.json}"
export FORTNOX_STATE_FILE="${FORTNOX_STATE_FILE:-var/sandbox/fortnox.json}"
mkdir -p var/log var/run
# Operator routes and commands need a token: made once, kept in var/operator-token.
if [ -z "${OPERATOR_TOKEN:-}" ]; then
  [ -s var/operator-token ] || (umask 077; python3 -c "import secrets; print(secrets.token_urlsafe(32))" >var/operator-token)
  OPERATOR_TOKEN=$(cat var/operator-token)
fi
export OPERATOR_TOKEN
BIN=.venv/bin

start() {  # name port command...
  local name=$1 port=$2; shift 2
  if [ -f "var/run/$name.pid" ] && kill -0 "$(cat "var/run/$name.pid")" 2>/dev/null; then
    echo "  $name already running (pid $(cat "var/run/$name.pid"))"; return
  fi
  HTTP_PORT=$port nohup "$@" >>"var/log/$name.log" 2>&1 &
  echo $! >"var/run/$name.pid"
}

wait_ready() {  # name url
  for _ in $(seq 1 120); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$2" 2>/dev/null; then
      echo "  $1 ready"; return 0
    fi
    sleep 0.5
  done
  echo "$1 did not become ready; see var/log/$1.log" >&2; tail -n 20 "var/log/$1.log" >&2; exit 1
}

echo "starting Ordreflyt (logs in var/log/)"
# Says what each side continues from; stops here over a state file the sandbox could not read.
$BIN/python deploy/local/local_state.py describe "$WOO_STATE_FILE" "$FORTNOX_STATE_FILE"
start sandbox-fortnox 8200 $BIN/ordreflyt-sandbox-fortnox
wait_ready sandbox-fortnox http://127.0.0.1:8200/_sandbox/stats
start intake 8000 $BIN/ordreflyt-intake
start order-mapper 8001 $BIN/ordreflyt-order-mapper
start erp-writer 8002 $BIN/ordreflyt-erp-writer
start fulfillment-listener 8003 $BIN/ordreflyt-fulfillment-listener
start stock-syncer 8004 $BIN/ordreflyt-stock-syncer
wait_ready intake http://127.0.0.1:8000/readyz
wait_ready order-mapper http://127.0.0.1:8001/readyz
wait_ready erp-writer http://127.0.0.1:8002/readyz
wait_ready fulfillment-listener http://127.0.0.1:8003/readyz
wait_ready stock-syncer http://127.0.0.1:8004/readyz
start sandbox-woocommerce 8100 $BIN/ordreflyt-sandbox-woocommerce \
  --webhook-url http://127.0.0.1:8000/webhooks/woocommerce/demo \
  --webhook-secret "${SHOP_DEMO_WEBHOOK_SECRET:-sandbox-webhook-secret}" \
  --orders-per-second "$ORDERS_PER_SECOND" --countries SE
wait_ready sandbox-woocommerce http://127.0.0.1:8100/_sandbox/state

cat <<INFO

Ordreflyt is running. Sample orders arrive at $ORDERS_PER_SECOND per second.
  Operator routes and commands want the token:  export OPERATOR_TOKEN=\$(cat var/operator-token)
  Health:   http://localhost:8000/readyz  (intake)
            http://localhost:8001/readyz  (order-mapper)   held orders: http://localhost:8001/holds
            http://localhost:8002/readyz  (erp-writer)     parked:      http://localhost:8002/parked
            http://localhost:8003/readyz  (fulfillment-listener)  conflicts: http://localhost:8003/conflicts
            http://localhost:8004/readyz  (stock-syncer)   last pass:   http://localhost:8004/status
  Metrics:  http://localhost:800N/metrics
  RabbitMQ: http://localhost:15672  (management UI; guest/guest from this machine)
  Sandbox:  shop http://localhost:8100/_sandbox/state   Fortnox http://localhost:8200/_sandbox/state
            state kept in $WOO_STATE_FILE and $FORTNOX_STATE_FILE
Stop with: deploy/local/down.sh   (and start both sides clean: deploy/local/down.sh --clean)
INFO
