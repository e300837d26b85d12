"""Render the whole RabbitMQ topology (every service's queues) as a definitions file.

    uv run python deploy/rabbitmq/export_definitions.py > deploy/rabbitmq/definitions.json

Import it with the management UI (Overview -> Import definitions), `rabbitmqctl
import_definitions definitions.json`, or `load_definitions` in rabbitmq.conf. The services
declare the same topology themselves at start; a test keeps this file and the code in step.
"""

from __future__ import annotations

import json
import sys

# Each service's module registers the queue it consumes.
import ordreflyt_erp_writer.app  # noqa: F401
import ordreflyt_fulfillment_listener.app  # noqa: F401
import ordreflyt_intake.app  # noqa: F401
import ordreflyt_order_mapper.app  # noqa: F401
import ordreflyt_stock_syncer.app  # noqa: F401
from ordreflyt_runtime.topology import CONSUMERS, export_definitions


def render(vhost: str = "/") -> str:
    doc = export_definitions(CONSUMERS.values(), vhost)
    doc = {"vhosts": [{"name": vhost}], **doc}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(sys.argv[1] if len(sys.argv) > 1 else "/"))
