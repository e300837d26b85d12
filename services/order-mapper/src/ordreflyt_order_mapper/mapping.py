"""Turning a paid WooCommerce order into the ERP-neutral `ErpOrder`, or holding it with reasons.

The mapping predicts the ERP's own arithmetic (Fortnox's, see `vat.erp_totals`) so that the
document the ERP computes shows exactly the shop's total and, per VAT rate, the VAT of the
shop's tax lines. Where the ERP would land a little off (VAT rounded per rate instead of per
line), rows per rate bring it to the shop's figures (`vat.vat_adjustments`), and a rounding row
at 0 % takes only what they cannot. A shop total further from its own lines and taxes than
`rounding_tolerance` holds the order. A hold is `MappingHeld` with every reason found, each a
sentence a person can act on.

Decisions worth knowing:
- Prices follow the shop: VAT-inclusive rows (`total + total_tax`) when the shop enters prices
  with tax, net rows otherwise. A row's unit price is the line's amount before coupons divided
  by the quantity; the coupon's effect is the row's `discount` (an amount off the whole row).
  When that division does not come out in whole minor units, the unit price is rounded away
  from zero and the few öre over go into the discount too, so the row total stays exact.
- The VAT rate of a line is what the shop says its tax is: `taxes[].id` is a tax rate id,
  looked up in `tax_lines[].rate_id`; the shop's `rate_percent` is used when present, otherwise
  the rate of the ERP (or the config) that every line taxed at that id agrees with. The line's
  amounts are only checked against it, within the shop's rounding (half a unit, scaled by
  1 + rate for VAT-inclusive prices; the unrounded `taxes[]` amounts to their own digits).
- A rate the ERP does not have is a reason that says so (no config can fix it); a rate the ERP
  has but the config leaves out is a reason that says to add it.
- Shipping is a row of kind "shipping", or with `shipping = "freight"` the document's freight
  amount, but only when the ERP would tax it right: Fortnox gives freight the highest VAT rate
  among the rows (product and fee rows here). Otherwise the shipping stays a row and the
  remarks say why. Free shipping (0.00) and zero fees give no row.
- Customers: a company when `billing.company` is set (name = the company; the person goes in
  the remarks as "Contact: ..."), a private person otherwise (name = "First Last", or the
  e-mail address when the shop has no name). The organisation number is read from the order
  meta keys in `ORG_NUMBER_META_KEYS`, first non-empty one wins.
- Text is normalised to Unicode NFC: shops on some platforms send decomposed "å" (a + ring),
  which an ERP would otherwise store as a different name.
- Shops round to 0.01 except in `ZERO_DECIMAL_CURRENCIES` and in shops set to keep no decimals
  (`shop_unit` reads that from how the order writes its totals). The ERP rounds to hundredths
  whatever the currency, so rounding rows may carry hundredths even for ISK. Three-decimal
  currencies (KWD, BHD, ...) are treated as two-decimal ones: the ERP cannot hold their third
  decimal anyway.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation
from typing import Literal

from ordreflyt_contracts.erp import ErpAddress, ErpCustomer, ErpLine, ErpOrder
from ordreflyt_contracts.woocommerce import Address, LineItem, TaxAmount, TaxLine, WooOrder
from ordreflyt_order_mapper.rules import MappingRules, rate_text
from ordreflyt_order_mapper.vat import (
    erp_bases,
    erp_round,
    erp_row_total,
    erp_totals,
    vat_adjustments,
)

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")

# ISO 4217 currencies without a minor unit in everyday use (ISK has one on paper, but prices,
# cards and WooCommerce shops use whole krónur).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)

# Order meta keys where Nordic checkout plugins store the organisation number, in the order
# they are tried: Klarna Checkout / Svea / Avarda style `_billing_org_number`, WooCommerce
# checkout field editors (`billing_org_number`, `_billing_company_number`), Norwegian
# `org_nr` variants, and generic `_organisation_number` / `_organization_number`.
ORG_NUMBER_META_KEYS = (
    "_billing_org_number",
    "billing_org_number",
    "_billing_org_nr",
    "billing_org_nr",
    "_billing_orgnr",
    "billing_orgnr",
    "_billing_company_number",
    "billing_company_number",
    "_billing_organisation_number",
    "_organisation_number",
    "_organization_number",
    "organisation_number",
    "org_number",
)

ROUNDING_DESCRIPTION = "Rounding"


class MappingHeld(Exception):
    """The order cannot be sent to the ERP as it is; `reasons` says why, one sentence each."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons: list[str] = list(reasons)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of the currency shops and ERPs write: 0.01, or 1 for ISK, JPY, ..."""
    return ONE if currency.strip().upper() in ZERO_DECIMAL_CURRENCIES else CENT


def shop_unit(order: WooOrder, currency: str) -> Decimal:
    """What the shop rounds its amounts to: 1 in a zero-decimal currency; otherwise the finest
    step among the order's totals (WooCommerce writes them with the shop's "number of
    decimals": "39" in a shop that keeps none, "39.00" in one that keeps two), from 0.01 to 1.
    Line amounts are left out: a shop that rounds at the subtotal keeps them unrounded."""
    if minor_unit(currency) == ONE:
        return ONE
    amounts = [order.total, order.total_tax, order.shipping_total, order.discount_total]
    amounts += [order.cart_tax, order.shipping_tax]
    amounts += [line.total for line in order.shipping_lines]
    amounts += [line.total for line in order.fee_lines]
    for tax_line in order.tax_lines:
        amounts += [tax_line.tax_total, tax_line.shipping_tax_total]
    exponents = [
        exponent
        for amount in amounts
        if amount.is_finite() and isinstance(exponent := amount.as_tuple().exponent, int)
    ]
    return ONE.scaleb(max(-2, min(0, min(exponents, default=-2))))


def _clean(text: str | None) -> str:
    return unicodedata.normalize("NFC", text or "").strip()


def _cents(amount: Decimal) -> str:
    return str(erp_round(amount))


def _text_amount(text: str) -> Decimal | None:
    """A tax amount sent as text ("" when the rate does not apply); None when unreadable."""
    if not text.strip():
        return ZERO
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


@dataclass
class _Mapping:
    """What one call of `map_order` works with and collects."""

    order: WooOrder
    rules: MappingRules
    # What the shop rounds to (`shop_unit`): 0.01, or 1 in a shop that keeps no decimals.
    minor: Decimal
    reasons: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    # False once a row could not be priced: the document total cannot be predicted then.
    complete: bool = True
    tax_lines: dict[int, TaxLine] = field(default_factory=dict)
    # The percent of each of the shop's tax rates the lines use (None: not derivable).
    shop_rates: dict[int, Decimal | None] = field(default_factory=dict)
    # (VAT rate, the shop's tax, its tax rate id) of every row and of the freight.
    charged: list[tuple[Decimal, Decimal, int | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tax_lines = {line.rate_id: line for line in self.order.tax_lines}

    @property
    def vat_included(self) -> bool:
        return self.order.prices_include_tax

    def money(self, amount: Decimal) -> Decimal:
        return amount.quantize(self.minor, rounding=ROUND_HALF_UP)

    # -- VAT rates ---------------------------------------------------------------------------

    def evidence(
        self,
        taxes: Sequence[TaxAmount],
        amounts: Sequence[tuple[Decimal, Decimal]],
        rate_id: int | None,
    ) -> list[Evidence]:
        """What a line says of its rate: its tax on its net as the shop rounds them (the first
        of `amounts` with a net), and the tax as kept per rate in `taxes[]` (WooCommerce keeps
        it unrounded there, "9.75" where the line says "10") on that net."""
        basis = next((i for i, (net, _) in enumerate(amounts) if net), None)
        if basis is None:
            return []
        net, tax = amounts[basis]
        found = [Evidence(net, tax, self.minor, self.minor)]
        for entry in taxes:
            if entry.id != rate_id:
                continue
            text = entry.total if basis == 0 else entry.subtotal
            raw = _text_amount(text)
            if not text.strip() or raw is None:
                continue
            # As precise as its digits, at most 6 places, and never coarser than the shop's.
            exponent = raw.as_tuple().exponent
            unit = ONE.scaleb(max(-6, exponent)) if isinstance(exponent, int) else self.minor
            found.append(Evidence(net, raw, min(unit, self.minor), self.minor))
        return found

    def rate_ids(self, label: str, taxes: Sequence[TaxAmount]) -> list[int] | None:
        """The tax rate ids that taxed a line (a free line: the one it names); None after
        recording why the taxes cannot be read."""
        rate_ids: list[int] = []  # the rates that taxed the line
        named_ids: list[int] = []  # the rates named with an amount, even a zero one
        for entry in taxes:
            total, subtotal = _text_amount(entry.total), _text_amount(entry.subtotal)
            if total is None or subtotal is None:
                self.reasons.append(
                    f"{label}: unreadable tax amount ({entry.total!r}, {entry.subtotal!r})"
                )
                return None
            if (total or subtotal) and entry.id not in rate_ids:
                rate_ids.append(entry.id)
            if (entry.total.strip() or entry.subtotal.strip()) and entry.id not in named_ids:
                named_ids.append(entry.id)
        if not rate_ids and len(named_ids) == 1:
            # A free line still names its rate; "" means the rate does not apply at all.
            rate_ids = named_ids
        if len(rate_ids) > 1:
            names = ", ".join(
                _tax_name(self.tax_lines.get(rate_id), rate_id) for rate_id in rate_ids
            )
            self.reasons.append(
                f"{label}: taxed at {len(rate_ids)} rates at once ({names}); an ERP row has "
                f"one VAT rate, so compound or stacked taxes must be booked by hand"
            )
            return None
        return rate_ids

    def vat_rate(
        self,
        label: str,
        taxes: Sequence[TaxAmount],
        amounts: Sequence[tuple[Decimal, Decimal]],
    ) -> tuple[Decimal, int | None] | None:
        """The configured VAT rate of one line and the shop's tax rate id it comes from, or
        None after recording why there is none.

        `amounts` are (net, tax) pairs to check the rate against, the preferred one first.
        """
        rate_ids = self.rate_ids(label, taxes)
        if rate_ids is None:
            return None
        rate_id = rate_ids[0] if rate_ids else None
        evidence = self.evidence(taxes, amounts, rate_id)
        net, tax = next(((n, t) for n, t in amounts if n), (ZERO, ZERO))
        if not net and any(t for _, t in amounts):
            self.reasons.append(
                f"{label}: tax {self.money(amounts[0][1])} on an amount of 0; "
                f"the VAT rate cannot be derived"
            )
            return None
        # Without a tax rate named (an untaxed line, or a shop that leaves `taxes` empty) the
        # line's own amounts tell the rate; no tax finds 0 % like any other rate.
        rate = (
            self.shop_rate(rate_id) if rate_id is not None else self.rate_from_amounts([evidence])
        )
        if rate is None:
            # Nothing to derive from (free items only): the rate changes no amount. The lowest
            # configured rate keeps it from raising the rate the ERP gives freight.
            return min(self.rules.vat_rates), rate_id
        if rate_id is not None and not _fits(rate, evidence):
            self.reasons.append(
                f"{label}: tax {self.money(tax)} on {self.money(net)} is not the "
                f"{rate_text(rate)} % of {_tax_name(self.tax_lines.get(rate_id), rate_id)}, "
                f"even allowing for the shop's rounding to {rate_text(self.minor)}"
            )
            return None
        found = self.configured(label, rate)
        return None if found is None else (found, rate_id)

    def shop_rate(self, rate_id: int) -> Decimal | None:
        """The percent of one of the shop's tax rates: as the shop states it in the tax line
        (`rate_percent`), else the rate every line taxed at it agrees on. None when those
        lines are all free."""
        if rate_id not in self.shop_rates:
            line = self.tax_lines.get(rate_id)
            if line is not None and line.rate_percent is not None:
                self.shop_rates[rate_id] = line.rate_percent
            else:
                self.shop_rates[rate_id] = self.rate_from_amounts(self.taxed_at(rate_id))
        return self.shop_rates[rate_id]

    def taxed_at(self, rate_id: int) -> list[list[Evidence]]:
        """What every line of the order taxed at `rate_id` alone says of its rate."""
        charges: list[tuple[Sequence[TaxAmount], list[tuple[Decimal, Decimal]]]] = [
            (item.taxes, _item_amounts(item)) for item in self.order.line_items
        ]
        charges += [
            (line.taxes, [(line.total, line.total_tax)]) for line in self.order.shipping_lines
        ]
        charges += [(fee.taxes, [(fee.total, fee.total_tax)]) for fee in self.order.fee_lines]
        found: list[list[Evidence]] = []
        for taxes, amounts in charges:
            ids = {entry.id for entry in taxes if entry.total.strip() or entry.subtotal.strip()}
            if ids == {rate_id}:
                found.append(self.evidence(taxes, amounts, rate_id))
        return found

    def rate_from_amounts(self, lines: Sequence[Sequence[Evidence]]) -> Decimal | None:
        """The rate the ERP has (or is configured) that explains every line's tax within the
        shop's rounding, the closest one when several do; else the rate the amounts show,
        for the reason. None when no line has an amount to tell by."""
        priced = [evidence for evidence in lines if evidence]
        if not priced:
            return None

        def score(rate: Decimal) -> Decimal:
            return sum((e.error(rate) for evidence in priced for e in evidence), ZERO)

        best: tuple[Decimal, Decimal] | None = None
        for rate in sorted({*self.rules.erp_vat_rates, *self.rules.vat_rates}):
            fits = all(_fits(rate, evidence) for evidence in priced)
            if fits and (best is None or score(rate) < best[0]):
                best = (score(rate), rate)
        # The most exact of each line's figures tell the rate a person would name.
        exact = [min(evidence, key=lambda e: e.unit) for evidence in priced]
        total = Evidence(
            net=sum((e.net for e in exact), ZERO),
            tax=sum((e.tax for e in exact), ZERO),
            unit=sum((e.unit for e in exact), ZERO),
            net_unit=sum((e.net_unit for e in exact), ZERO),
        )
        shown = _shown_rate(total) if total.net else None
        if best is None or shown is None or shown == best[1] or self.vat_included:
            return best[1] if best is not None else shown
        # On tiny amounts the net's rounding lets a wrong rate fit too (0.003 on 0.02 fits 12 %
        # as well as 15 %). With net prices, WooCommerce's unrounded taxes (6 places) on the
        # net tell the rate exactly: when they say another one, better than the best fit, it
        # is that one.
        precise = all(e.unit <= PRECISE for e in exact)
        shown_fits = all(_fits(shown, evidence) for evidence in priced)
        return shown if precise and shown_fits and score(shown) < best[0] else best[1]

    def configured(self, label: str, rate: Decimal) -> Decimal | None:
        """The configured rate equal to the shop's `rate`, or None after saying what would fix
        it: the config, when the ERP has the rate; booking by hand, when it has not."""
        found = self.rules.configured_rate(rate)
        if found is not None:
            return found
        erp = self.rules.erp_title
        if self.rules.erp_has(rate):
            configured = ", ".join(rate_text(r) for r in sorted(self.rules.vat_rates))
            self.reasons.append(
                f"{label}: VAT rate {rate_text(rate)} % is not configured "
                f"(configured: {configured}); {erp} has it: add it to "
                f"order_mapper.vat_rates and release the order"
            )
        else:
            accepted = ", ".join(rate_text(r) for r in self.rules.erp_vat_rates)
            self.reasons.append(
                f"{label}: VAT rate {rate_text(rate)} % cannot be booked in {erp}, which "
                f"accepts only {accepted} %; no setting changes that: book this order by hand"
            )
        return None

    # -- rows --------------------------------------------------------------------------------

    def row(
        self,
        *,
        kind: Literal["article", "shipping", "fee"],
        description: str,
        quantity: int,
        before: Decimal,
        after: Decimal,
        rate: Decimal,
        article_number: str | None,
        shop_line_id: int,
    ) -> ErpLine:
        """A priced row whose ERP total is `after`; `before` is the amount before coupons."""
        qty = Decimal(quantity)
        before, after = self.money(before), self.money(after)
        unit_price = (before / qty).quantize(self.minor, rounding=ROUND_UP)
        gross = qty * unit_price
        discount = gross - after if gross >= 0 else after - gross
        return ErpLine(
            kind=kind,
            description=description,
            quantity=qty,
            unit_price=unit_price,
            vat_percent=rate,
            total=erp_row_total(qty, unit_price, discount),
            discount=discount,
            article_number=article_number,
            account_number=self.rules.account_for(article_number, rate),
            shop_line_id=shop_line_id,
        )

    def article_rows(self) -> list[ErpLine]:
        rows: list[ErpLine] = []
        if not self.order.line_items:
            self.reasons.append("the order has no product lines")
            self.complete = False
        for number, item in enumerate(self.order.line_items, start=1):
            name = _clean(item.name)
            label = f'line {number} "{name}"'
            sku = _clean(item.sku)
            if not sku:
                self.reasons.append(f"{label}: no SKU")
            rated = self.vat_rate(label, item.taxes, _item_amounts(item))
            if item.quantity <= 0:
                self.reasons.append(
                    f"{label}: quantity {item.quantity}; a row needs a quantity of at least 1"
                )
            if rated is None or item.quantity <= 0:
                self.complete = False
                continue
            rate, rate_id = rated
            self.charged.append((rate, item.total_tax, rate_id))
            tax_before = item.subtotal_tax if self.vat_included else ZERO
            tax_after = item.total_tax if self.vat_included else ZERO
            rows.append(
                self.row(
                    kind="article",
                    description=name,
                    quantity=item.quantity,
                    before=item.subtotal + tax_before,
                    after=item.total + tax_after,
                    rate=rate,
                    article_number=sku or None,
                    shop_line_id=item.id,
                )
            )
        return rows

    def fee_rows(self) -> list[ErpLine]:
        rows: list[ErpLine] = []
        for fee in self.order.fee_lines:
            if not fee.total and not fee.total_tax:
                continue
            name = _clean(fee.name)
            rated = self.vat_rate(f'fee "{name}"', fee.taxes, [(fee.total, fee.total_tax)])
            if rated is None:
                self.complete = False
                continue
            rate, rate_id = rated
            self.charged.append((rate, fee.total_tax, rate_id))
            amount = fee.total + (fee.total_tax if self.vat_included else ZERO)
            rows.append(
                self.row(
                    kind="fee",
                    description=name,
                    quantity=1,
                    before=amount,
                    after=amount,
                    rate=rate,
                    article_number=self.rules.fee_article or None,
                    shop_line_id=fee.id,
                )
            )
        return rows

    def shipping_rows(self, other_rows: Sequence[ErpLine]) -> tuple[list[ErpLine], Decimal]:
        """Shipping as rows, or as the ERP's freight amount when the ERP's freight rate (the
        highest rate among the other rows) is the shipping's own rate."""
        priced: list[tuple[str, Decimal, Decimal, int]] = []  # title, amount, rate, line id
        for line in self.order.shipping_lines:
            if not line.total and not line.total_tax:
                continue  # free shipping: nothing to book
            title = _clean(line.method_title)
            rated = self.vat_rate(f'shipping "{title}"', line.taxes, [(line.total, line.total_tax)])
            if rated is None:
                self.complete = False
                continue
            rate, rate_id = rated
            self.charged.append((rate, line.total_tax, rate_id))
            amount = line.total + (line.total_tax if self.vat_included else ZERO)
            priced.append((title, amount, rate, line.id))

        as_freight: list[tuple[str, Decimal, Decimal, int]] = []
        as_rows = priced
        if self.rules.shipping == "freight" and priced:
            top = max((row.vat_percent for row in other_rows), default=None)
            # A shipping row above `top` would raise the rate the ERP gives freight: then none
            # of the shipping can be freight.
            if top is not None and max(rate for _, _, rate, _ in priced) <= top:
                as_freight = [entry for entry in priced if entry[2] == top]
                as_rows = [entry for entry in priced if entry[2] != top]
            for title, _, rate, _ in as_rows:
                self.remarks.append(
                    f'Shipping "{title}" is a row, not freight: {_why_not_freight(rate, top)}.'
                )
            if as_freight:
                titles = ", ".join(title for title, _, _, _ in as_freight)
                self.remarks.append(f"Shipping: {titles} (in the freight amount).")

        freight = sum((self.money(amount) for _, amount, _, _ in as_freight), ZERO)
        rows = [
            self.row(
                kind="shipping",
                description=title,
                quantity=1,
                before=amount,
                after=amount,
                rate=rate,
                article_number=self.rules.shipping_article or None,
                shop_line_id=line_id,
            )
            for title, amount, rate, line_id in as_rows
        ]
        return rows, freight

    def rounding_row(self, amount: Decimal, rate: Decimal = ZERO) -> ErpLine:
        """A row of `amount` at `rate`: the rounding row at 0 %, or a rate's VAT adjustment."""
        article = self.rules.rounding_article or None
        return ErpLine(
            kind="rounding",
            description=f"{ROUNDING_DESCRIPTION} (VAT {rate_text(rate)} %)"
            if rate
            else ROUNDING_DESCRIPTION,
            quantity=ONE,
            unit_price=amount,
            vat_percent=rate,
            total=erp_row_total(ONE, amount, ZERO),
            article_number=article,
            account_number=self.rules.account_for(article, rate),
        )

    # -- VAT per rate ------------------------------------------------------------------------

    def shop_vat(self) -> dict[Decimal, Decimal]:
        """The VAT per rate on the customer's receipt: the order's tax lines (each at the rate
        its lines were mapped to), plus the tax of lines whose rate has no tax line. It must
        agree with the lines' own taxes within the shop's rounding; a reason says when not."""
        by_lines: dict[Decimal, Decimal] = {}
        counts: dict[Decimal, int] = {}
        rate_of_id: dict[int, Decimal] = {}
        vat: dict[Decimal, Decimal] = {}
        for rate, tax, rate_id in self.charged:
            by_lines[rate] = by_lines.get(rate, ZERO) + tax
            counts[rate] = counts.get(rate, 0) + 1
            if rate_id is not None and rate_id in self.tax_lines:
                rate_of_id[rate_id] = rate
            else:
                vat[rate] = vat.get(rate, ZERO) + tax
        for line in self.order.tax_lines:
            amount = line.tax_total + line.shipping_tax_total
            if line.rate_id in rate_of_id:
                rate = rate_of_id[line.rate_id]
                vat[rate] = vat.get(rate, ZERO) + amount
            elif amount:
                self.reasons.append(
                    f"tax line {_tax_name(line, line.rate_id)}: {_cents(amount)} of tax that no "
                    f"line of the order is taxed at"
                )
        vat = {rate: erp_round(amount) for rate, amount in vat.items()}
        for rate, amount in vat.items():
            lines = by_lines.get(rate, ZERO)
            if abs(amount - lines) > self.minor / 2 * (counts.get(rate, 0) + 1):
                self.reasons.append(
                    f"VAT {rate_text(rate)} %: the order's tax lines say {_cents(amount)}, its "
                    f"lines add up to {_cents(lines)}"
                )
        return vat

    def vat_rows(
        self, rows: Sequence[ErpLine], freight: Decimal
    ) -> tuple[list[ErpLine], dict[Decimal, Decimal]]:
        """Rows that make the ERP's VAT per rate the shop's and its total the shop's total, and
        the shop's VAT per rate; a reason instead when the shop's total is further from its own lines and
        taxes than `rounding_tolerance`."""
        known = len(self.reasons)
        targets = self.shop_vat()
        if len(self.reasons) > known:
            return [], targets  # the shop's taxes do not add up: no total can be told
        vat = sum(targets.values(), ZERO)
        bases = erp_bases(((row.total, row.vat_percent) for row in rows), freight)
        lines_total = sum(bases.values(), ZERO) + (ZERO if self.vat_included else vat)
        gap = self.order.total - lines_total
        tolerance = self.rules.rounding_tolerance
        if abs(gap) > tolerance:
            self.reasons.append(
                f"total mismatch: the ERP lines add up to {_cents(lines_total)} but the shop "
                f"total is {_cents(self.order.total)} (difference {_cents(abs(gap))}, "
                f"tolerance {tolerance})"
            )
            return [], targets
        if self.reasons:
            return [], targets
        adjustment = vat_adjustments(bases, targets, erp_round(gap), self.vat_included)
        if adjustment is None:
            self.reasons.append("the ERP's VAT per rate cannot be made the shop's")
            return [], targets
        added = [self.rounding_row(amount, rate) for rate, amount in adjustment.by_rate.items()]
        if adjustment.rounding:
            added.append(self.rounding_row(adjustment.rounding))
            self.remarks.append(
                f"Rounding {_cents(adjustment.rounding)} at 0 % VAT: the shop's total is not "
                f"reached by rows at the order's VAT rates alone."
            )
        return added, targets

    def check_document(
        self, rows: Sequence[ErpLine], freight: Decimal, vat: dict[Decimal, Decimal]
    ) -> None:
        """The document as the ERP will compute it shows the shop's total and VAT per rate
        (a safety net: a reason, never a wrong document)."""
        totals = erp_totals(
            ((row.total, row.vat_percent) for row in rows), freight, self.vat_included
        )
        booked = {rate: amount for rate, amount in totals.vat_by_rate.items() if amount}
        shop = {rate: amount for rate, amount in vat.items() if amount}
        if totals.total != erp_round(self.order.total) or booked != shop:
            self.reasons.append(
                f"the ERP document would show total {_cents(totals.total)} and VAT "
                f"{_vat_text(booked)}, the shop {_cents(self.order.total)} and {_vat_text(shop)}"
            )

    # -- customer and header -----------------------------------------------------------------

    def customer(self) -> ErpCustomer | None:
        billing = self.order.billing
        email = _clean(billing.email).lower()
        if not email:
            self.reasons.append("no e-mail address on the order")
            return None
        local, _, domain = email.partition("@")
        if not local or not domain or any(ch.isspace() for ch in email):
            self.reasons.append(f'the e-mail address "{email}" is not valid')
            return None
        company = _clean(billing.company)
        person = _person(billing)
        if company:
            if person:
                self.remarks.append(f"Contact: {person}.")
            kind: Literal["private", "company"] = "company"
            name = company
        else:
            kind, name = "private", person or email
        delivery = self.order.shipping if _has_address(self.order.shipping) else billing
        return ErpCustomer(
            email=email,
            kind=kind,
            name=name,
            company=company,
            organisation_number=self.organisation_number(),
            phone=_clean(billing.phone),
            address=_address(billing, name),
            delivery_address=_address(
                delivery, _clean(delivery.company) or _person(delivery) or name
            ),
        )

    def organisation_number(self) -> str:
        meta = {entry.key: entry.value for entry in self.order.meta_data}
        for key in ORG_NUMBER_META_KEYS:
            value = meta.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                text = _clean(str(value))
                if text:
                    return text
        return ""

    def customer_data_at(self) -> datetime | None:
        """When the shop took the customer's data: the order's creation (its checkout), so a
        later edit of an old order (a fixed SKU) does not make its address the newest."""
        moment = self.order.date_created_gmt or self.order.date_paid_gmt
        moment = moment or self.order.date_modified_gmt
        if moment is None:
            return None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def order_date(self) -> date | None:
        moment = self.order.date_paid_gmt or self.order.date_created_gmt
        if moment is None:
            self.reasons.append("no order date (date_paid_gmt and date_created_gmt are empty)")
            return None
        # The *_gmt fields come without an offset; they are UTC.
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        return moment.date()

    def coupon_remark(self) -> None:
        if not self.order.coupon_lines:
            return
        parts = []
        for coupon in self.order.coupon_lines:
            amount = coupon.discount + (coupon.discount_tax if self.vat_included else ZERO)
            parts.append(f"{_clean(coupon.code)} -{self.money(amount)}")
        self.remarks.append(f"Coupons: {', '.join(parts)}.")


# A tax written to this unit or finer is WooCommerce's unrounded figure.
PRECISE = Decimal("0.0001")


def _item_amounts(item: LineItem) -> list[tuple[Decimal, Decimal]]:
    """A product line's (net, tax): after coupons, then before (a free line's rate shows there)."""
    return [(item.total, item.total_tax), (item.subtotal, item.subtotal_tax)]


@dataclass(frozen=True)
class Evidence:
    """A line's tax on its net, each written to a unit (the shop's rounding, or finer)."""

    net: Decimal
    tax: Decimal
    unit: Decimal  # of the tax
    net_unit: Decimal

    def error(self, rate: Decimal) -> Decimal:
        return abs(self.tax - self.net * rate / HUNDRED)

    def allows(self, rate: Decimal) -> bool:
        # Half a unit of the tax, and the rate's share of half a unit of the net: the net is
        # rounded too (with VAT in the prices it is what is left of the gross after the tax).
        return self.error(rate) <= self.unit / 2 + self.net_unit / 2 * rate / HUNDRED


def _fits(rate: Decimal, evidence: Sequence[Evidence]) -> bool:
    return all(e.allows(rate) for e in evidence)


def _shown_rate(evidence: Evidence) -> Decimal:
    """The rate a person would name for tax/net: the shortest one that explains the tax."""
    exact = evidence.tax / evidence.net * HUNDRED
    for places in (Decimal(1), Decimal("0.1"), CENT):
        rate = exact.quantize(places, rounding=ROUND_HALF_UP)
        if evidence.allows(rate):
            return rate
    return exact.quantize(CENT, rounding=ROUND_HALF_UP)


def _why_not_freight(rate: Decimal, top: Decimal | None) -> str:
    if top is None:
        return "the order has no product or fee row whose VAT rate freight could take"
    if rate == top:
        # Another shipping line is above `top`, and as a row it would raise the freight rate.
        return f"another shipping line's VAT rate is above {rate_text(top)} %"
    return (
        f"its VAT rate is {rate_text(rate)} % and the ERP gives freight "
        f"{rate_text(top)} %, the highest rate of the product and fee rows"
    )


def _vat_text(vat: dict[Decimal, Decimal]) -> str:
    return (
        ", ".join(
            f"{_cents(amount)} at {rate_text(rate)} %" for rate, amount in sorted(vat.items())
        )
        or "0"
    )


def _tax_name(line: TaxLine | None, rate_id: int) -> str:
    if line is None:
        return f"rate id {rate_id}"
    name = _clean(line.label) or _clean(line.rate_code) or f"rate id {rate_id}"
    return f"{name} (compound)" if line.compound else name


def _person(address: Address) -> str:
    return " ".join(
        part for part in (_clean(address.first_name), _clean(address.last_name)) if part
    )


def _has_address(address: Address) -> bool:
    return any(
        _clean(part)
        for part in (
            address.first_name,
            address.last_name,
            address.company,
            address.address_1,
            address.address_2,
            address.postcode,
            address.city,
        )
    )


def _address(address: Address, name: str) -> ErpAddress:
    return ErpAddress(
        name=name,
        address1=_clean(address.address_1),
        address2=_clean(address.address_2),
        zip_code=_clean(address.postcode),
        city=_clean(address.city),
        country_code=_clean(address.country).upper(),
    )


def map_order(shop_id: str, order: WooOrder, rules: MappingRules) -> ErpOrder:
    """The ERP order for a shop order; raises `MappingHeld` with every reason it cannot be."""
    currency = _clean(order.currency).upper()
    state = _Mapping(order=order, rules=rules, minor=shop_unit(order, currency))
    if not currency:
        state.reasons.append("no currency on the order")
    customer = state.customer()
    order_date = state.order_date()

    lines = state.article_rows()
    lines += state.fee_rows()
    shipping, freight = state.shipping_rows(lines)
    # Shipping rows go right after the products, where an invoice reader expects them.
    product_count = sum(1 for line in lines if line.kind == "article")
    lines[product_count:product_count] = shipping
    state.coupon_remark()

    vat: dict[Decimal, Decimal] = {}
    if state.complete:
        added, vat = state.vat_rows(lines, freight)
        lines += added
        if not state.reasons:
            state.check_document(lines, freight, vat)

    if state.reasons or customer is None or order_date is None:
        raise MappingHeld(state.reasons)

    order_number = _clean(order.number) or str(order.id)
    return ErpOrder(
        shop_id=shop_id,
        shop_order_id=str(order.id),
        order_number=order_number,
        external_reference=rules.external_reference.format(
            shop_id=shop_id, order_id=order.id, order_number=order_number
        ),
        order_date=order_date,
        currency=currency,
        vat_included=state.vat_included,
        customer=customer,
        lines=lines,
        total=order.total,
        total_vat=sum(vat.values(), ZERO),
        freight=freight,
        document=rules.document,
        stock_point=rules.stock_point or None,
        delivery_state=rules.delivery_state,
        payment_method=_clean(order.payment_method),
        payment_method_title=_clean(order.payment_method_title),
        transaction_id=_clean(order.transaction_id),
        coupons=[_clean(coupon.code) for coupon in order.coupon_lines],
        customer_note=_clean(order.customer_note),
        remarks="\n".join(state.remarks),
        customer_data_at=state.customer_data_at(),
    )


__all__ = [
    "ORG_NUMBER_META_KEYS",
    "ZERO_DECIMAL_CURRENCIES",
    "MappingHeld",
    "map_order",
    "minor_unit",
    "shop_unit",
]
