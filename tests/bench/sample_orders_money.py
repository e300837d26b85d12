"""How exactly the sandbox shop's sample orders reach the ERP, to the cent.

    uv run python tests/bench/sample_orders_money.py [--orders 1000] [--seed 1]
        [--prices-include-tax both|yes|no] [--config deploy/config/ordreflyt.toml]

Draws orders from the sandbox WooCommerce's own generator (Norwegian and Swedish customers,
1-5 catalogue items, coupons, invoice fees, flat-rate or free shipping; prices entered with and
without tax, alternately, by default), paid; maps each with order-mapper's `map_order` and the
rules of the config (Fortnox: 25, 12, 6 and 0 %); and computes the document Fortnox would hold
with the sandbox Fortnox's own arithmetic (`document_totals`). Counts:
- matched: the document's total and its VAT per rate equal the order total and its tax lines,
  to the cent; of those, how many needed rows per rate to get the VAT right, and how many a
  rounding row at 0 %; and how many the ERP would have got wrong without the rows per rate;
- held: by reason (the line's name left out);
- mismatched: sent, but the document does not show the shop's figures (should be 0).
No services, broker or database are needed: everything runs in this process.
"""

from __future__ import annotations

import argparse
import random
import re
import tomllib
from collections import Counter
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from ordreflyt_contracts import decode_order
from ordreflyt_contracts.erp import ErpLine, ErpOrder
from ordreflyt_contracts.woocommerce import WooOrder
from ordreflyt_order_mapper.mapping import MappingHeld, map_order
from ordreflyt_order_mapper.rules import load_rules
from ordreflyt_sandbox_fortnox.models import SWEDISH_VAT_RATES
from ordreflyt_sandbox_fortnox.totals import document_totals, row_total
from ordreflyt_sandbox_woocommerce.generator import SampleOrders
from ordreflyt_sandbox_woocommerce.render import Site, order_json, php_json
from ordreflyt_sandbox_woocommerce.sandbox import seed_shop
from ordreflyt_sandbox_woocommerce.settings import WooSettings
from ordreflyt_sandbox_woocommerce.store import Store
from ordreflyt_sandbox_woocommerce.taxes import RATES_BY_ID

REPO = Path(__file__).resolve().parents[2]
LABEL = re.compile(r'^(line \d+ |shipping |fee )"[^"]*": ')
ENOUGH_STOCK = 1_000_000


def receipt(order: WooOrder) -> dict[Decimal, Decimal]:
    """The VAT per rate on the customer's receipt: the order's tax lines."""
    vat: dict[Decimal, Decimal] = {}
    for line in order.tax_lines:
        rate = RATES_BY_ID[line.rate_id].rate
        vat[rate] = vat.get(rate, Decimal(0)) + line.tax_total + line.shipping_tax_total
    return {rate: amount for rate, amount in vat.items() if amount}


def erp_document(
    lines: list[ErpLine], erp: ErpOrder
) -> tuple[Decimal, dict[Decimal, Decimal], bool]:
    """(Total, VAT per rate, whether Fortnox takes every row) of the document, as the sandbox
    Fortnox computes it."""
    for line in lines:
        assert line.total == row_total(line.quantity, line.unit_price, line.discount, "AMOUNT")
    totals = document_totals(
        ((line.total, line.vat_percent) for line in lines), erp.freight, erp.vat_included
    )
    vat = {rate: amount for rate, amount in totals.vat_by_rate.items() if amount}
    return totals.total, vat, all(line.vat_percent in SWEDISH_VAT_RATES for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1, help="seed of the sample orders")
    parser.add_argument("--prices-include-tax", choices=("both", "yes", "no"), default="both")
    parser.add_argument("--config", type=Path, default=REPO / "deploy/config/ordreflyt.toml")
    args = parser.parse_args()

    with args.config.open("rb") as fh:
        rules = load_rules(tomllib.load(fh))
    settings = WooSettings()
    store = Store()
    seed_shop(store, settings)
    for product in store.products.values():
        if product.manage_stock:
            product.stock_quantity = ENOUGH_STOCK  # 1,000 orders never sell the shop out
    samples = SampleOrders(store, random.Random(args.seed), settings.countries)
    site = Site(settings.shop_url, ZoneInfo(settings.timezone))

    counts: Counter[str] = Counter()
    held: Counter[str] = Counter()
    for n in range(args.orders):
        incl = {"both": n % 2 == 1, "yes": True, "no": False}[args.prices_include_tax]
        placed = samples.place({"status": "processing", "prices_include_tax": incl})
        if placed.finish is not None:
            placed.finish()  # the payment callback
        order = decode_order(php_json(order_json(placed.order, [], site)))
        counts["orders"] += 1
        counts[f"orders in {order.currency}"] += 1
        try:
            erp = map_order("demo", order, rules)
        except MappingHeld as hold:
            counts["held"] += 1
            held.update({LABEL.sub("", reason) for reason in hold.reasons})
            continue
        total, vat, accepted = erp_document(erp.lines, erp)
        if (total, vat) != (order.total, receipt(order)) or not accepted:
            counts["mismatched"] += 1
            continue
        counts["matched"] += 1
        rounding = [line for line in erp.lines if line.kind == "rounding"]
        if any(line.vat_percent for line in rounding):
            counts["matched with rows per rate for the VAT"] += 1
        if any(not line.vat_percent for line in rounding):
            counts["matched with a rounding row at 0 %"] += 1
        if not rounding:
            counts["matched with no rounding row at all"] += 1
        _, plain_vat, _ = erp_document([line for line in erp.lines if line not in rounding], erp)
        if plain_vat != vat:
            counts["VAT per rate wrong without the rows per rate"] += 1

    print(
        f"{args.orders} sample orders (seed {args.seed}, prices with tax: "
        f"{args.prices_include_tax}), rules of {args.config.relative_to(REPO)}"
    )
    for key in (
        "orders in NOK",
        "orders in SEK",
        "matched",
        "matched with no rounding row at all",
        "matched with rows per rate for the VAT",
        "matched with a rounding row at 0 %",
        "VAT per rate wrong without the rows per rate",
        "mismatched",
        "held",
    ):
        print(f"  {key}: {counts[key]}")
    for reason, count in held.most_common():
        print(f"    {count} x {reason}")


if __name__ == "__main__":
    main()
