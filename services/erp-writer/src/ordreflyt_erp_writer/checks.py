"""What erp-writer checks in the ERP's own answer before it takes a document as done.

The ERP computes a document's totals itself (Fortnox: row totals, VAT per rate, freight at the
highest rate). order-mapper predicted them, and the create answer carries the ERP's figures: if
its total or VAT differs from the mapped order's, the document does not say what the customer
paid (a row the warehouse module zeroed, a rate or rounding the ERP applies differently), and
the order is parked with both figures, never taken as done.
"""

from __future__ import annotations

from ordreflyt_contracts.erp import ErpOrder
from ordreflyt_erp import ErpRejected
from ordreflyt_erp.capabilities import ErpDocument

TOTALS_DIFFER = "totals-differ"


def totals_difference(erp: str, order: ErpOrder, document: ErpDocument) -> str | None:
    """Why the ERP's (`erp`: its title, "Fortnox") totals of `document` are not the mapped
    order's, or None when they are (or when the ERP's answer did not carry them)."""
    total_differs = document.total is not None and document.total != order.total
    vat_differs = document.total_vat is not None and document.total_vat != order.total_vat
    if not (total_differs or vat_differs):
        return None
    name = erp
    return (
        f"{name} computed {document.kind} {document.number} as total {document.total} with "
        f"VAT {document.total_vat}, but the shop order's are total {order.total} with VAT "
        f"{order.total_vat}: correct or cancel the document in {name}, then retry"
    )


def check_totals(erp: str, order: ErpOrder, document: ErpDocument) -> None:
    """Raise `ErpRejected` (the order is parked) when the ERP's totals are not the order's."""
    difference = totals_difference(erp, order, document)
    if difference is not None:
        raise ErpRejected(TOTALS_DIFFER, difference)
