"""How one sandbox shop is set up: credentials, URL, catalogue, webhooks, generator, taxes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ordreflyt_sandbox_kit.catalogue import DEFAULT_PRODUCTS, DEFAULT_SEED
from ordreflyt_sandbox_woocommerce.webhooks import WebhookSpec

# Countries the shop has tax rates, currencies, shipping and addresses for.
SUPPORTED_COUNTRIES = ("NO", "SE")


@dataclass
class WooSettings:
    consumer_key: str = "ck_sandbox"
    consumer_secret: str = "cs_sandbox"
    # home_url('/'): the X-WC-Webhook-Source value and the base of every link, slash-terminated.
    shop_url: str = "http://127.0.0.1:8100/"
    # Sample orders per second from the background generator; 0 = off.
    orders_per_second: float = 0
    # Size of the seeded catalogue (variations of variable products come on top). A sandbox
    # Fortnox with the same `catalogue_products` and `seed` holds the same SKUs.
    products: int = DEFAULT_PRODUCTS
    webhooks: list[WebhookSpec] = field(default_factory=list)
    # Seed for the catalogue (dates, sales counts, the shop's stock); None = different every
    # start. The SKUs, names and prices depend on `products` alone.
    seed: int | None = DEFAULT_SEED
    # Seed for the sample orders; None = different every start.
    order_seed: int | None = None
    # Countries sample orders are placed from (when a request pins none), NO and/or SE.
    countries: tuple[str, ...] = SUPPORTED_COUNTRIES
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
    # Answer the `/_sandbox` control routes from any address, not only from loopback.
    open_control: bool = False
    # Keep the shop in this JSON file across restarts (see `saved.py`); None = start empty.
    state_file: Path | None = None

    def __post_init__(self) -> None:
        if not self.shop_url.endswith("/"):
            self.shop_url += "/"
        self.countries = check_countries(self.countries)


def check_countries(countries: object) -> tuple[str, ...]:
    """A valid `countries` setting as a tuple; ValueError names what is wrong."""
    if isinstance(countries, str) or not isinstance(countries, list | tuple):
        raise ValueError(f"countries must be a list of country codes, got {countries!r}")
    codes = tuple(dict.fromkeys(str(c).strip().upper() for c in countries))
    unknown = [c for c in codes if c not in SUPPORTED_COUNTRIES]
    if not codes or unknown:
        raise ValueError(
            f"countries must name one or more of {', '.join(SUPPORTED_COUNTRIES)}, "
            f"got {list(countries)!r}"
        )
    return codes
