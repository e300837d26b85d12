"""The intake service: its spec (name, port, tables) and the routes it adds to the runtime."""

from __future__ import annotations

from aiohttp import web

from ordreflyt_intake.config import load_intake_config
from ordreflyt_intake.metrics import IntakeMetrics
from ordreflyt_intake.store import MIGRATIONS
from ordreflyt_intake.webhooks import config_key, metrics_key, woocommerce_webhook
from ordreflyt_runtime.service import Runtime, ServiceSpec
from ordreflyt_runtime.settings import load_toml

SERVICE = "intake"
DEFAULT_PORT = 8000


def setup(runtime: Runtime, app: web.Application) -> None:
    config = load_intake_config(load_toml(runtime.settings.config_path))
    app[config_key] = config
    app[metrics_key] = IntakeMetrics(runtime.metrics.registry)
    app.router.add_post("/webhooks/woocommerce/{shop}", woocommerce_webhook)


SPEC = ServiceSpec(name=SERVICE, default_port=DEFAULT_PORT, migrations=MIGRATIONS, setup=setup)
