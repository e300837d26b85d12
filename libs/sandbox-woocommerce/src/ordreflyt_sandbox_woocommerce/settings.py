"""How one sandbox shop is set up: credentials, URL, catalogue, webhooks, generator, taxes."""

from __future__ import annotations

from dataclasses import dataclass, field

from ordreflyt_sandbox_woocommerce.webhooks import WebhookSpec


@dataclass
class WooSettings:
    consumer_key: str = "ck_sandbox"
    consumer_secret: str = "cs_sandbox"
    # home_url('/'): the X-WC-Webhook-Source value and the base of every link, slash-terminated.
    shop_url: str = "http://127.0.0.1:8100/"
    # Sample orders per second from the background generator; 0 = off.
    orders_per_second: float = 0
    # Size of the seeded catalogue (variations of variable products come on top).
    products: int = 40
    webhooks: list[WebhookSpec] = field(default_factory=list)
    # Seed for the catalogue and the sample orders; None = different every start.
    seed: int | None = None
    # The shop-wide "Prices entered with tax" setting.
    prices_include_tax: bool = False
    currency: str = "NOK"
    # Site time zone: `date_*` fields are local time in it, `date_*_gmt` are UTC.
    timezone: str = "Europe/Oslo"
    # Order statuses the shop registers on top of WooCommerce's own.
    custom_statuses: tuple[str, ...] = ("shipped",)
    # Seconds a webhook receiver gets to answer a delivery or a ping.
    delivery_timeout: float = 5.0
    # Consecutive failed deliveries after which a webhook is disabled.
    max_delivery_failures: int = 5

    def __post_init__(self) -> None:
        if not self.shop_url.endswith("/"):
            self.shop_url += "/"
