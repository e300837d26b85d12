"""What a sandbox Fortnox is started with: credentials, rate limit, warehouse module, catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from ordreflyt_sandbox_kit.catalogue import DEFAULT_PRODUCTS, DEFAULT_SEED


@dataclass
class FortnoxSettings:
    access_tokens: list[str] = field(default_factory=lambda: ["sandbox-token"])
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    refresh_tokens: list[str] = field(default_factory=lambda: ["sandbox-refresh"])
    # Requests per window and access token; None lifts the limit.
    rate_limit: int | None = 25
    rate_window_seconds: float = 5.0
    token_lifetime_seconds: int = 3600
    # The warehouse ("Lager") module: stock points and per-point balances.
    warehouse: bool = True
    stock_points: list[str] = field(default_factory=lambda: ["HUVUD", "BUTIK", "RESERV"])
    # The shared catalogue the articles are seeded from, as the sandbox shop's `products` and
    # `seed`: the same values give an article for every SKU the shop sells. Variations come on
    # top of the products, so there are more articles than products.
    catalogue_products: int = DEFAULT_PRODUCTS
    # Seeds the stock balances too; None = different every start (the articles stay the same).
    seed: int | None = DEFAULT_SEED
    # Answer the `/_sandbox` control routes from any address, not only from loopback.
    open_control: bool = False
    # Keep the emulator's data in this JSON file across restarts (see `saved.py`); None = start
    # from the seeded catalogue every time.
    state_file: Path | None = None

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError(
                f"rate_limit must be a positive integer or None, got {self.rate_limit}"
            )
        if self.rate_window_seconds <= 0:
            raise ValueError(
                f"rate_window_seconds must be positive, got {self.rate_window_seconds}"
            )
        if self.token_lifetime_seconds < 1:
            raise ValueError(
                f"token_lifetime_seconds must be positive, got {self.token_lifetime_seconds}"
            )
        if not self.stock_points or any(not code.strip() for code in self.stock_points):
            raise ValueError("stock_points must name at least one stock point, none of them empty")
        if len(set(self.stock_points)) != len(self.stock_points):
            raise ValueError(f"stock_points must not repeat a code: {self.stock_points}")
        if self.catalogue_products < 0:
            raise ValueError(f"catalogue_products must be 0 or more, got {self.catalogue_products}")
        if not self.client_id or not self.client_secret:
            raise ValueError("client_id and client_secret must not be empty")


settings_key = web.AppKey("fortnox_settings", FortnoxSettings)
