"""Turning a paid WooCommerce order into the ERP-neutral `ErpOrder`, or holding it with reasons.

The mapping predicts the ERP's own arithmetic (Fortnox's, see `erp_totals`) so that the document
the ERP computes adds up to exactly the shop's total. When the ERP would land a little off (VAT
rounded per rate instead of per line, shop amounts with more decimals than the ERP keeps), a
rounding row at 0 % closes the gap if it is within `rounding_tolerance`; a larger gap holds the
order. A hold is `MappingHeld` with every reason found, each a sentence a person can act on.

Decisions worth knowing:
- Prices follow the shop: VAT-inclusive rows (`total + total_tax`) when the shop enters prices
  with tax, net rows otherwise. A row's unit price is the line's amount before coupons divided
  by the quantity; the coupon's effect is the row's `discount` (an amount off the whole row).
  When that division does not come out in whole minor units, the unit price is rounded away
  from zero and the few öre over go into the discount too, so the row total stays exact.
- The VAT rate of a line comes from its own taxes: `taxes[].id` is a tax rate id, looked up in
  `tax_lines[].rate_id`; the shop's `rate_percent` is used when present, otherwise the rate is
  derived from the amounts and snapped to a configured rate that reproduces the shop's tax
  within its rounding (half a minor unit, scaled by 1 + rate for VAT-inclusive prices).
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
- Currencies keep 2 decimals except those in `ZERO_DECIMAL_CURRENCIES`. The ERP rounds to
  hundredths whatever the currency, so a rounding row may carry hundredths even for ISK.
  Three-decimal currencies (KWD, BHD, ...) are treated as two-decimal ones: the ERP cannot
  hold their third decimal anyway.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date
from decimal import ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation
from typing import Literal

from ordreflyt_contracts.erp import ErpAddress, ErpCustomer, ErpLine, ErpOrder
from ordreflyt_contracts.woocommerce import Address, TaxAmount, TaxLine, WooOrder
from ordreflyt_order_mapper.rules import MappingRules, rate_text

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
# The ERP rounds row totals and VAT to hundredths of the currency, whatever the currency.
ERP_UNIT = CENT
# The rate Fortnox gives freight on a document without rows.
ERP_DEFAULT_FREIGHT_RATE = Decimal(25)

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


def erp_round(amount: Decimal) -> Decimal:
    return amount.quantize(ERP_UNIT, rounding=ROUND_HALF_UP)


def erp_row_total(quantity: Decimal, unit_price: Decimal, discount: Decimal) -> Decimal:
    """A row's total as the ERP computes it: quantity x price less the amount discount.

    The ERP lets an amount discount shrink the size of the row, so on a negative row it adds.
    """
    gross = quantity * unit_price
    off = discount if gross >= 0 else -discount
    return erp_round(gross - off)


@dataclass(frozen=True)
class ErpTotals:
    vat: Decimal
    total: Decimal


def erp_totals(
    rows: Iterable[tuple[Decimal, Decimal]], freight: Decimal, vat_included: bool
) -> ErpTotals:
    """The ERP's document totals from (row total, VAT percent) pairs and the freight amount.

    VAT is computed per rate over the sum of that rate's rows and rounded to hundredths; the
    freight takes the highest rate among the rows. With VAT-inclusive prices the total is the
    sum of the rows and the freight; otherwise it is the net sum plus the VAT.
    """
    by_rate: dict[Decimal, Decimal] = {}
    for total, rate in rows:
        by_rate[rate] = by_rate.get(rate, ZERO) + total
    if freight:
        rate = max(by_rate, default=ERP_DEFAULT_FREIGHT_RATE)
        by_rate[rate] = by_rate.get(rate, ZERO) + freight
    amounts = sum(by_rate.values(), ZERO)
    if vat_included:
        vat = sum((erp_round(base * r / (HUNDRED + r)) for r, base in by_rate.items()), ZERO)
        return ErpTotals(vat=vat, total=erp_round(amounts))
    vat = sum((erp_round(base * r / HUNDRED) for r, base in by_rate.items()), ZERO)
    return ErpTotals(vat=vat, total=erp_round(amounts + vat))


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
    minor: Decimal
    reasons: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    # False once a row could not be priced: the document total cannot be predicted then.
    complete: bool = True

    @property
    def vat_included(self) -> bool:
        return self.order.prices_include_tax

    def money(self, amount: Decimal) -> Decimal:
        return amount.quantize(self.minor, rounding=ROUND_HALF_UP)

    # -- VAT rates ---------------------------------------------------------------------------

    def rate_slack(self, rate: Decimal) -> Decimal:
        """How far a shop's rounded tax may be from net x rate: half a minor unit, and a bit
        more for VAT-inclusive prices, where the tax is rounded first and the net follows."""
        return self.minor / 2 * (ONE + rate / HUNDRED)

    def vat_rate(
        self, label: str, taxes: Sequence[TaxAmount], amounts: Sequence[tuple[Decimal, Decimal]]
    ) -> Decimal | None:
        """The configured VAT rate of one line, or None after recording why there is none.

        `amounts` are (net, tax) pairs to derive the rate from, the preferred one first.
        """
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
        tax_lines = {line.rate_id: line for line in self.order.tax_lines}
        if len(rate_ids) > 1:
            names = ", ".join(_tax_name(tax_lines.get(rate_id), rate_id) for rate_id in rate_ids)
            self.reasons.append(
                f"{label}: taxed at {len(rate_ids)} rates at once ({names}); an ERP row has "
                f"one VAT rate, so compound or stacked taxes must be booked by hand"
            )
            return None
        known = tax_lines.get(rate_ids[0]) if rate_ids else None
        if known is not None and known.rate_percent is not None:
            return self.configured(label, known.rate_percent)
        net, tax = next(((n, t) for n, t in amounts if n), (ZERO, ZERO))
        if not net:
            if any(t for _, t in amounts):
                self.reasons.append(
                    f"{label}: tax {self.money(amounts[0][1])} on an amount of 0; "
                    f"the VAT rate cannot be derived"
                )
                return None
            # Nothing to derive from (a free item): its rate changes no amount. The lowest
            # configured rate keeps it from raising the rate the ERP gives freight.
            return min(self.rules.vat_rates)
        # A line without tax finds 0 % here (when configured) like any other rate.
        best: tuple[Decimal, Decimal] | None = None
        for rate in self.rules.vat_rates:
            error = abs(tax - net * rate / HUNDRED)
            if error <= self.rate_slack(rate) and (best is None or error < best[0]):
                best = (error, rate)
        if best is not None:
            return best[1]
        return self.configured(label, self.shown_rate(net, tax))

    def shown_rate(self, net: Decimal, tax: Decimal) -> Decimal:
        """The rate a person would name for tax/net: the shortest one that explains the tax."""
        exact = tax / net * HUNDRED
        for places in (Decimal(1), Decimal("0.1"), CENT):
            rate = exact.quantize(places, rounding=ROUND_HALF_UP)
            if abs(tax - net * rate / HUNDRED) <= self.rate_slack(rate):
                return rate
        return exact.quantize(CENT, rounding=ROUND_HALF_UP)

    def configured(self, label: str, rate: Decimal) -> Decimal | None:
        found = self.rules.configured_rate(rate)
        if found is None:
            configured = ", ".join(rate_text(r) for r in sorted(self.rules.vat_rates))
            self.reasons.append(
                f"{label}: VAT rate {rate_text(rate)} % is not configured "
                f"(configured: {configured})"
            )
        return found

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
        for number, item in enumerate(self.order.line_items, start=1):
            name = _clean(item.name)
            label = f'line {number} "{name}"'
            sku = _clean(item.sku)
            if not sku:
                self.reasons.append(f"{label}: no SKU")
            rate = self.vat_rate(
                label,
                item.taxes,
                [(item.total, item.total_tax), (item.subtotal, item.subtotal_tax)],
            )
            if item.quantity <= 0:
                self.reasons.append(
                    f"{label}: quantity {item.quantity}; a row needs a quantity of at least 1"
                )
            if rate is None or item.quantity <= 0:
                self.complete = False
                continue
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
            rate = self.vat_rate(f'fee "{name}"', fee.taxes, [(fee.total, fee.total_tax)])
            if rate is None:
                self.complete = False
                continue
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
            rate = self.vat_rate(f'shipping "{title}"', line.taxes, [(line.total, line.total_tax)])
            if rate is None:
                self.complete = False
                continue
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

    def rounding_row(self, amount: Decimal) -> ErpLine:
        article = self.rules.rounding_article or None
        return ErpLine(
            kind="rounding",
            description=ROUNDING_DESCRIPTION,
            quantity=ONE,
            unit_price=amount,
            vat_percent=ZERO,
            total=erp_row_total(ONE, amount, ZERO),
            article_number=article,
            account_number=self.rules.account_for(article, ZERO),
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
    state = _Mapping(order=order, rules=rules, minor=minor_unit(currency))
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

    totals = ErpTotals(vat=ZERO, total=ZERO)
    if state.complete:
        totals = erp_totals(
            ((line.total, line.vat_percent) for line in lines), freight, state.vat_included
        )
        difference = order.total - totals.total
        if abs(difference) > rules.rounding_tolerance:
            state.reasons.append(
                f"total mismatch: the ERP lines add up to {_cents(totals.total)} but the shop "
                f"total is {_cents(order.total)} (difference {_cents(abs(difference))}, "
                f"tolerance {rules.rounding_tolerance})"
            )
        elif erp_round(difference):
            lines.append(state.rounding_row(erp_round(difference)))
            totals = erp_totals(
                ((line.total, line.vat_percent) for line in lines), freight, state.vat_included
            )

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
        total_vat=totals.vat,
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
    )


__all__ = [
    "ERP_DEFAULT_FREIGHT_RATE",
    "ORG_NUMBER_META_KEYS",
    "ZERO_DECIMAL_CURRENCIES",
    "ErpTotals",
    "MappingHeld",
    "erp_row_total",
    "erp_totals",
    "map_order",
    "minor_unit",
]
