"""The VAT rates each ERP can book. A document row with any other rate is refused by the ERP
(Fortnox answers 400 "Ogiltig momssats"), so a rate the shop charges but the ERP lacks cannot
be fixed in Ordreflyt's config: such an order has to be booked by hand.

order-mapper refuses at start a configured rate the ERP does not have and names these rates
in its hold reasons; the ERP is the one each shop's `[shops.<id>] erp` chooses.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class ErpVatRates:
    erp: str  # as `[shops.<id>] erp` names it
    title: str  # as a person names it
    rates: tuple[Decimal, ...]  # highest first, as the ERP lists them

    def has(self, rate: Decimal) -> bool:
        return rate in self.rates


# Swedish VAT: 25 % standard, 12 % food and hotels, 6 % books, culture and passenger transport,
# 0 % exempt and export. Fortnox has no other rate.
FORTNOX = ErpVatRates(
    erp="fortnox", title="Fortnox", rates=(Decimal(25), Decimal(12), Decimal(6), Decimal(0))
)

BY_ERP = {FORTNOX.erp: FORTNOX}


def vat_rates_of(erp: str) -> ErpVatRates | None:
    """The rates of the ERP `[shops.<id>] erp` names; None for an ERP Ordreflyt does not know."""
    return BY_ERP.get(erp)
