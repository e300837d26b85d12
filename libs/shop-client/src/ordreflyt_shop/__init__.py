"""WooCommerce for the services: the shops' settings (`[shops.<id>]`, `[statuses]`) and an
async REST client with retries, paging and batches."""

from ordreflyt_shop.client import ShopRejected, ShopUnavailable, WooClient
from ordreflyt_shop.settings import (
    WOOCOMMERCE_STATUSES,
    Shop,
    ShopApi,
    Statuses,
    load_shop_apis,
    load_shops,
    load_statuses,
)

__all__ = [
    "WOOCOMMERCE_STATUSES",
    "Shop",
    "ShopApi",
    "ShopRejected",
    "ShopUnavailable",
    "Statuses",
    "WooClient",
    "load_shop_apis",
    "load_shops",
    "load_statuses",
]
