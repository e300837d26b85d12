"""The RabbitMQ topology: one place that says which exchanges and queues exist.

- `ordreflyt.events`: durable topic exchange every service publishes to. Its alternate exchange
  `ordreflyt.unrouted` keeps, in the queue of the same name, any message no queue is bound for,
  so nothing published is dropped silently. Every event has a consumer, so the queue stays
  empty in the normal course; it is bounded (`UNROUTED_MAX_LENGTH`, oldest dropped first) and
  its depth is a metric with an alert (deploy/prometheus/alerts.yml).
- Per consuming service S: a durable quorum queue `S` bound explicitly to the keys S reads, with
  a delivery limit (a message that keeps crashing its consumer is dead-lettered by the broker);
  retry queues `S.retry.<delay>` whose TTL dead-letters messages back into `S` (growing
  delays); and the dead-letter queue `S.dlq` (bound to `ordreflyt.dead` with key S), where a
  message ends with its failure reason in its headers.
- Dead-lettering is at-least-once (`AT_LEAST_ONCE`: quorum queues, RabbitMQ 3.10+): a message
  leaves a retry queue, or a queue for its DLQ, only once the target has it. RabbitMQ's default
  is at-most-once: a broker stopped while a retry queue's messages expire loses them (a chaos
  run lost 7 of 434 orders that way). The target's duplicates are the inbox's to drop.

Services declare what they use at start (idempotent); `export_definitions()` renders the whole
topology as a RabbitMQ definitions file (deploy/rabbitmq/definitions.json). A queue that exists
on the broker with other arguments than these (declared by an older version) is used as it is,
with a warning that says how to bring it up to date, rather than stopping the service.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

log = logging.getLogger(__name__)

EVENTS_EXCHANGE = "ordreflyt.events"
UNROUTED_EXCHANGE = "ordreflyt.unrouted"
UNROUTED_QUEUE = "ordreflyt.unrouted"
DEAD_EXCHANGE = "ordreflyt.dead"
# Messages kept in ordreflyt.unrouted at most (the oldest are dropped beyond it).
UNROUTED_MAX_LENGTH = 10_000
UNROUTED_ARGUMENTS: dict[str, Any] = {
    "x-queue-type": "quorum",
    "x-max-length": UNROUTED_MAX_LENGTH,
    "x-overflow": "drop-head",
}
DLQ_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}
# A quorum queue dead-letters a message only once its target queue has confirmed it (it needs
# publishes refused, not heads dropped, when the queue is full).
AT_LEAST_ONCE: dict[str, Any] = {
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}

# Failure headers on messages in a retry queue or a DLQ.
H_ATTEMPT = "ordreflyt-attempt"
H_WAITS = "ordreflyt-waits"  # times the message waited for an unavailable dependency
H_ERROR = "ordreflyt-error"
H_REASON = "ordreflyt-reason"
H_FAILED_AT = "ordreflyt-failed-at"
H_ROUTING_KEY = "ordreflyt-routing-key"
H_SERVICE = "ordreflyt-service"


@dataclass(frozen=True)
class ConsumerQueue:
    """A consuming service's queue, its bindings, retry delays and DLQ."""

    service: str
    binding_keys: tuple[str, ...]
    retry_delays_ms: tuple[int, ...] = (1_000, 5_000, 30_000, 120_000)
    # Deliveries of one message (without an ack) before the broker dead-letters it: guards
    # against a message that kills its consumer process every time, while surviving a good
    # number of restarts of the consumer with the message in flight.
    delivery_limit: int = 20
    extra_arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def queue(self) -> str:
        return self.service

    @property
    def dlq(self) -> str:
        return f"{self.service}.dlq"

    def retry_queue(self, attempt: int) -> str:
        """The retry queue after failed attempt number `attempt` (1-based)."""
        return self.retry_queue_name(
            self.retry_delays_ms[min(attempt, len(self.retry_delays_ms)) - 1]
        )

    def retry_queue_name(self, delay_ms: int) -> str:
        return f"{self.service}.retry.{delay_ms}ms"

    @property
    def queue_names(self) -> tuple[str, ...]:
        """Every queue this service owns: its queue, its DLQ and its retry queues."""
        delays = sorted(set(self.retry_delays_ms))
        return (self.queue, self.dlq, *(self.retry_queue_name(d) for d in delays))

    @property
    def max_attempts(self) -> int:
        return len(self.retry_delays_ms) + 1

    def queue_arguments(self) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": DEAD_EXCHANGE,
            "x-dead-letter-routing-key": self.service,
            **AT_LEAST_ONCE,
            **self.extra_arguments,
        }

    def retry_arguments(self, delay_ms: int) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-message-ttl": delay_ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.queue,
            **AT_LEAST_ONCE,
        }


async def declare_exchanges(channel: AbstractChannel) -> AbstractExchange:
    """Declare the shared exchanges (idempotent); returns the events exchange."""
    unrouted = await channel.declare_exchange(
        UNROUTED_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
    )
    unrouted_queue = await declare_queue(channel, UNROUTED_QUEUE, UNROUTED_ARGUMENTS)
    await unrouted_queue.bind(unrouted, routing_key="")
    await channel.declare_exchange(DEAD_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
    return await channel.declare_exchange(
        EVENTS_EXCHANGE,
        aio_pika.ExchangeType.TOPIC,
        durable=True,
        arguments={"alternate-exchange": UNROUTED_EXCHANGE},
    )


async def declare_consumer_queue(
    channel: AbstractChannel, spec: ConsumerQueue
) -> aio_pika.abc.AbstractQueue:
    """Declare a service's queue, bindings, retry queues and DLQ (idempotent)."""
    events = await declare_exchanges(channel)
    dead = await channel.get_exchange(DEAD_EXCHANGE)
    dlq = await declare_queue(channel, spec.dlq, DLQ_ARGUMENTS)
    await dlq.bind(dead, routing_key=spec.service)
    for delay in sorted(set(spec.retry_delays_ms)):
        await declare_queue(channel, spec.retry_queue_name(delay), spec.retry_arguments(delay))
    queue = await declare_queue(channel, spec.queue, spec.queue_arguments())
    for key in spec.binding_keys:
        await queue.bind(events, routing_key=key)
    return queue


async def declare_queue(
    channel: AbstractChannel, name: str, arguments: dict[str, Any]
) -> AbstractQueue:
    """Declare a durable queue; one that exists with other arguments is used as it is."""
    try:
        return await channel.declare_queue(name, durable=True, arguments=arguments)
    except aio_pika.exceptions.ChannelPreconditionFailed as exc:
        log.warning(
            "queue %s exists with other arguments than this version declares (%s); using it as"
            " it is. To bring it up to date, move its messages away (shovel, or the management"
            " UI), delete it and restart, or set the arguments as a policy. Wanted: %s",
            name,
            exc,
            arguments,
            extra={"queue": name},
        )
        await channel.reopen()
        return await channel.declare_queue(name, passive=True)


def export_definitions(consumers: Iterable[ConsumerQueue], vhost: str = "/") -> dict[str, Any]:
    """The topology as a RabbitMQ definitions document (for `load_definitions`)."""
    exchanges = [
        {"name": UNROUTED_EXCHANGE, "type": "fanout", "arguments": {}},
        {"name": DEAD_EXCHANGE, "type": "direct", "arguments": {}},
        {
            "name": EVENTS_EXCHANGE,
            "type": "topic",
            "arguments": {"alternate-exchange": UNROUTED_EXCHANGE},
        },
    ]
    queues: list[dict[str, Any]] = [{"name": UNROUTED_QUEUE, "arguments": UNROUTED_ARGUMENTS}]
    bindings: list[dict[str, Any]] = [
        {"source": UNROUTED_EXCHANGE, "destination": UNROUTED_QUEUE, "routing_key": ""}
    ]
    for spec in sorted(consumers, key=lambda c: c.service):
        queues.append({"name": spec.queue, "arguments": spec.queue_arguments()})
        queues.append({"name": spec.dlq, "arguments": DLQ_ARGUMENTS})
        for delay in sorted(set(spec.retry_delays_ms)):
            queues.append(
                {
                    "name": spec.retry_queue_name(delay),
                    "arguments": spec.retry_arguments(delay),
                }
            )
        bindings.append(
            {"source": DEAD_EXCHANGE, "destination": spec.dlq, "routing_key": spec.service}
        )
        bindings.extend(
            {"source": EVENTS_EXCHANGE, "destination": spec.queue, "routing_key": key}
            for key in spec.binding_keys
        )
    return {
        "exchanges": [
            {**e, "vhost": vhost, "durable": True, "auto_delete": False, "internal": False}
            for e in exchanges
        ],
        "queues": [{**q, "vhost": vhost, "durable": True, "auto_delete": False} for q in queues],
        "bindings": [
            {**b, "vhost": vhost, "destination_type": "queue", "arguments": {}} for b in bindings
        ],
    }
