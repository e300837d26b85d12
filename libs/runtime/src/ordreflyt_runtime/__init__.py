"""Ordreflyt's shared runtime: settings, logging, PostgreSQL, RabbitMQ topology, outbox relay,
inbox consumer and the HTTP health/metrics endpoints every service exposes."""

from ordreflyt_runtime.consumer import Consumer, HandlerContext
from ordreflyt_runtime.service import Runtime, create_app, run_service, runtime_key
from ordreflyt_runtime.settings import ServiceSettings, SettingsError
from ordreflyt_runtime.spec import Route, ServiceSpec, Subscription, get, on, post
from ordreflyt_runtime.topology import ConsumerQueue

__all__ = [
    "Consumer",
    "ConsumerQueue",
    "HandlerContext",
    "Route",
    "Runtime",
    "ServiceSettings",
    "ServiceSpec",
    "SettingsError",
    "Subscription",
    "create_app",
    "get",
    "on",
    "post",
    "run_service",
    "runtime_key",
]
