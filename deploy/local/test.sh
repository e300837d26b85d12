#!/usr/bin/env bash
# Install everything and run every test (unit, integration against the RabbitMQ and PostgreSQL
# at AMQP_URL / DATABASE_URL or testcontainers, end-to-end with real processes).
# Extra arguments go to pytest, e.g. `deploy/local/test.sh -k intake`.
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/local/ensure-uv.sh
uv sync --frozen --quiet
exec uv run pytest "$@"
