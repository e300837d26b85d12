"""Sandbox WooCommerce: a stand-in shop speaking REST API v3 and sending webhooks like WooCommerce.

Run it with `ordreflyt-sandbox-woocommerce`, or build the app in a test with
`make_app(WooSettings(...))`. The modules: `app` (wiring), `rest_*` (the REST routes),
`sandbox` (control routes), `store` and `models` (state), `orders` and `products` (what the
shop does to them), `pricing`, `taxes` and `money` (WooCommerce's arithmetic), `webhooks`
(deliveries), `generator`, `catalogue` and `nordic` (sample data), `render` (the JSON).
"""

from ordreflyt_sandbox_woocommerce.settings import WooSettings
from ordreflyt_sandbox_woocommerce.webhooks import WebhookSpec, sign

__all__ = ["WebhookSpec", "WooSettings", "sign"]
