"""The seam between erp-writer and an ERP: what an adapter must do, and the errors it raises.

erp-writer owns the exactly-once logic (markers, links, remembered customers); an adapter only
speaks its ERP's API. Tripletex will be a second implementation of the same Protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from ordreflyt_contracts.erp import ErpCustomer, ErpOrder
from ordreflyt_erp.errors import ErpRejected, ErpUnavailable

__all__ = ["CustomerRef", "ErpAdapter", "ErpDocument", "ErpRejected", "ErpUnavailable"]


@dataclass(frozen=True)
class CustomerRef:
    number: str
    created: bool = False


@dataclass(frozen=True)
class ErpDocument:
    kind: Literal["order", "invoice"]
    number: str
    customer_number: str
    invoice_number: str | None = None
    invoiced: bool = False
    cancelled: bool = False
    # The ERP's own figures for the document, VAT included, when its answer carries them.
    total: Decimal | None = None
    total_vat: Decimal | None = None


class ErpAdapter(Protocol):
    name: str

    async def find_customer(self, email: str) -> str | None:
        """The customer number of the customer with exactly this e-mail, if any."""

    async def create_customer(self, customer: ErpCustomer) -> str: ...

    async def update_customer(self, number: str, customer: ErpCustomer) -> None: ...

    async def find_document(self, order: ErpOrder) -> ErpDocument | None:
        """The document carrying exactly `order.external_reference`, if an earlier attempt
        created one (the ERP's search is by substring, so the match is checked exactly)."""

    async def create_document(self, order: ErpOrder, customer_number: str) -> ErpDocument: ...

    async def complete_document(self, order: ErpOrder, document: ErpDocument) -> ErpDocument:
        """Finish what the document kind asks for (an order then its invoice); idempotent."""

    async def update_document(self, order: ErpOrder, document: ErpDocument) -> bool:
        """Apply a changed order; False when the ERP no longer allows it (e.g. invoiced)."""

    async def create_missing_articles(self, order: ErpOrder) -> list[str]:
        """Create the order's articles the ERP does not have; returns their numbers."""

    def unknown_article(self, error: ErpRejected) -> bool:
        """Whether the ERP refused a document because a row names an article it lacks."""
