"""Fortnox orders read as ERP-neutral document states (pure functions, no I/O).

- Quantities per article (rows without an article, such as freight, do not count); invoiced
  when `InvoiceReference` is set (not "0"); `Cancelled`; the parcels from the `Shipments` field
  the sandbox Fortnox adds (real Fortnox has no such field: there the delivered quantities tell
  what was sent, and tracking numbers come through the push endpoint).
- `listed`: a digest of the header fields a listing shows that move when something that
  matters to the shop happens (invoiced, cancelled, the delivery state and date, warehouse
  ready, the total, the shipments). A listed order whose digest equals the one of the state
  already known is not read again (`FortnoxWatcher.verdict`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from ordreflyt_contracts.erp import ErpDocumentState, ErpParcel, ErpShipmentState
from ordreflyt_erp.capabilities import ListedDocument
from ordreflyt_erp.fortnox.times import local_to_utc, parse_minute

NO_REFERENCE = ("", "0")
ZERO = Decimal(0)
# The header fields of a listed order whose change matters to the shop order.
LISTED_FIELDS = (
    "InvoiceReference",
    "Cancelled",
    "DeliveryState",
    "DeliveryDate",
    "WarehouseReady",
    "Total",
    "Shipments",
)
_digest_json = msgspec.json.Encoder(order="sorted")


def quantity(value: Any) -> Decimal:
    if value is None or value == "":
        return ZERO
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a quantity: {value!r}") from None


def money(value: Any) -> Decimal | None:
    """An amount Fortnox sent as a JSON number (read as float: its shortest text is exact for
    hundredths) or a string; None when absent or unreadable."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount.quantize(Decimal("0.01")) if amount.is_finite() else None


def listed_digest(order: Mapping[str, Any]) -> str:
    """The digest of `LISTED_FIELDS` (numbers compared as text: "1.0" and 1.0 are one)."""
    picked = {name: _plain(order.get(name)) for name in LISTED_FIELDS}
    return hashlib.sha256(_digest_json.encode(picked)).hexdigest()[:32]


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return str(Decimal(str(value)).normalize())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def invoiced(order: Mapping[str, Any]) -> bool:
    return str(order.get("InvoiceReference") or "0") not in NO_REFERENCE


def changed_at(order: Mapping[str, Any], zone: ZoneInfo) -> datetime:
    return local_to_utc(parse_minute(str(order.get("LastModified") or "")), zone)


def _add(into: dict[str, Decimal], article: str, amount: Decimal) -> None:
    into[article] = into.get(article, ZERO) + amount


def _shipments(order: Mapping[str, Any]) -> tuple[ErpShipmentState, ...] | None:
    raw = order.get("Shipments")
    if not isinstance(raw, list):
        return None
    return tuple(
        ErpShipmentState(
            lines={str(a): quantity(q) for a, q in (shipment.get("Rows") or {}).items()},
            parcels=tuple(
                ErpParcel(
                    tracking_number=str(p.get("TrackingNumber") or ""),
                    carrier=str(p.get("Carrier") or ""),
                )
                for p in shipment.get("Parcels") or []
                if p.get("TrackingNumber")
            ),
        )
        for shipment in raw
        if isinstance(shipment, dict)
    )


def order_state(order: Mapping[str, Any], zone: ZoneInfo) -> ErpDocumentState:
    """The state of a Fortnox order (the `Order` of `GET /3/orders/{n}`, or of a create
    answer). Raises ValueError for a time or quantity it cannot read."""
    ordered: dict[str, Decimal] = {}
    delivered: dict[str, Decimal] = {}
    for row in order.get("OrderRows") or []:
        article = str(row.get("ArticleNumber") or "")
        if not article:
            continue
        _add(ordered, article, quantity(row.get("OrderedQuantity")))
        _add(delivered, article, quantity(row.get("DeliveredQuantity")))
    return ErpDocumentState(
        number=str(order.get("DocumentNumber") or ""),
        version=str(order.get("LastModified") or ""),
        changed_at=changed_at(order, zone),
        listed=listed_digest(order),
        ordered=ordered,
        delivered=delivered,
        invoiced=invoiced(order),
        cancelled=bool(order.get("Cancelled")),
        shipments=_shipments(order),
    )


def listed_order(entry: Mapping[str, Any], zone: ZoneInfo, fallback: datetime) -> ListedDocument:
    """An entry of `GET /3/orders` (no rows). `fallback`: the time to take when the entry has
    no readable `LastModified` (the poll's start)."""
    try:
        when = changed_at(entry, zone)
    except ValueError:
        when = fallback
    return ListedDocument(
        number=str(entry.get("DocumentNumber", "")),
        version=str(entry.get("LastModified") or ""),
        changed_at=when,
        listed=listed_digest(entry),
        invoiced=invoiced(entry),
        cancelled=bool(entry.get("Cancelled")),
    )
