"""WooCommerce REST v3 access for the services that write to the shop (fulfillment-listener,
stock-syncer): shop settings, an async client with retries, paging and batches."""

from ordreflyt_shop.client import ShopRejected, ShopUnavailable, WooClient
from ordreflyt_shop.settings import ShopApi, load_shop_apis

__all__ = ["ShopApi", "ShopRejected", "ShopUnavailable", "WooClient", "load_shop_apis"]
