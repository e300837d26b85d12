"""Render the whole RabbitMQ topology (every service's queues) as a definitions file.

    uv run python deploy/rabbitmq/export_definitions.py > deploy/rabbitmq/definitions.json

Import it with the management UI (Overview -> Import definitions), `rabbitmqctl
import_definitions definitions.json`, or `load_definitions` in rabbitmq.conf. The services
declare the same topology themselves at start; a test keeps this file and the code in step.
"""

from __future__ import annotations

import json
import sys

from ordreflyt_erp_writer.app import SPEC as ERP_WRITER
from ordreflyt_fulfillment_listener.app import SPEC as FULFILLMENT_LISTENER
from ordreflyt_intake.app import SPEC as INTAKE
from ordreflyt_order_mapper.app import SPEC as ORDER_MAPPER
from ordreflyt_runtime.topology import ConsumerQueue, export_definitions
from ordreflyt_stock_syncer.app import SPEC as STOCK_SYNCER

SERVICES = (INTAKE, ORDER_MAPPER, ERP_WRITER, FULFILLMENT_LISTENER, STOCK_SYNCER)


def render(vhost: str = "/") -> str:
    # Each service's queue is bound to the keys of the events its handlers take.
    queues = [q for q in (spec.queue() for spec in SERVICES) if isinstance(q, ConsumerQueue)]
    doc = export_definitions(queues, vhost)
    doc = {"vhosts": [{"name": vhost}], **doc}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(sys.argv[1] if len(sys.argv) > 1 else "/"))
