"""Ordreflyt's shared runtime: settings, logging, PostgreSQL, RabbitMQ topology, outbox relay,
inbox consumer and the HTTP health/metrics endpoints every service exposes."""

from ordreflyt_runtime.consumer import Consumer, HandlerContext
from ordreflyt_runtime.service import Runtime, ServiceSpec, create_app, run_service, runtime_key
from ordreflyt_runtime.settings import ServiceSettings, SettingsError
from ordreflyt_runtime.topology import ConsumerQueue

__all__ = [
    "Consumer",
    "ConsumerQueue",
    "HandlerContext",
    "Runtime",
    "ServiceSettings",
    "ServiceSpec",
    "SettingsError",
    "create_app",
    "run_service",
    "runtime_key",
]
