"""List endpoints: field searches, the one resource filter, dates, sorting and pages.

Faithful to Fortnox where clients get caught out:
- Field searches are case-insensitive SUBSTRING matches (`ILIKE %v%`): searching
  `externalinvoicereference1=12` also finds "123", so a client must compare exactly itself.
- Only one `filter` per request; two (or an unknown one) answer 400 with code 2000588, as does
  any query parameter the endpoint does not know.
- `limit` is at most 500 (default 100); `lastmodified=YYYY-MM-DD HH:MM` means modified in that
  minute or later.
List entries are the full resources without their rows; read one resource for its rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from multidict import MultiMapping

from ordreflyt_sandbox_fortnox.clock import minute_text, parse_day, parse_lastmodified, to_minute
from ordreflyt_sandbox_fortnox.errors import invalid_parameter

Item = dict[str, Any]
Filter = Callable[[Item, date], bool]

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


@dataclass(frozen=True)
class ListSpec:
    collection: str
    number_field: str
    searches: Mapping[str, str]
    filters: Mapping[str, Filter] = field(default_factory=dict)
    date_field: str | None = None
    lastmodified: bool = True
    rows_field: str | None = None
    # Fields the list filters on but does not show (a customer's LastModified).
    hidden: tuple[str, ...] = ()

    def allowed(self) -> set[str]:
        names = {"limit", "page", "sortby", "sortorder", *self.searches}
        if self.filters:
            names.add("filter")
        if self.date_field:
            names.update(("fromdate", "todate"))
        if self.lastmodified:
            names.add("lastmodified")
        return names


def _single(query: MultiMapping[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise invalid_parameter(f"Parametern {name} får bara anges en gång")
    return values[0] if values else None


def _positive(query: MultiMapping[str], name: str, default: int, top: int | None = None) -> int:
    raw = _single(query, name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1 or (top is not None and int(raw) > top):
        bound = f" (1..{top})" if top else ""
        raise invalid_parameter(f"Ogiltigt värde för {name}: {raw!r}{bound}")
    return int(raw)


def _sort_key(value: Any) -> tuple[int, int, str]:
    text = "" if value is None else str(value)
    # Document numbers are strings that sort as numbers ("10" after "9").
    return (0, int(text), "") if text.isdigit() else (1, 0, text.lower())


def list_page(spec: ListSpec, items: Iterable[Item], query: MultiMapping[str], today: date) -> Item:
    unknown = sorted(set(query) - spec.allowed())
    if unknown:
        raise invalid_parameter(f"Ogiltig parameter i anropet: {', '.join(unknown)}")
    limit = _positive(query, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    page = _positive(query, "page", 1)

    selected = list(items)
    if spec.filters:
        name = _single(query, "filter")
        if name is not None:
            keep = spec.filters.get(name.lower())
            if keep is None:
                raise invalid_parameter(
                    f"Ogiltigt filter {name!r}; ett av: {', '.join(spec.filters)} (ett per anrop)"
                )
            selected = [item for item in selected if keep(item, today)]
    for param, json_field in spec.searches.items():
        needle = _single(query, param)
        if needle is not None:
            needle = needle.lower()
            selected = [i for i in selected if needle in str(i.get(json_field) or "").lower()]
    if spec.date_field:
        date_field = spec.date_field
        since = _single(query, "fromdate")
        if since is not None:
            first = parse_day("fromdate", since).isoformat()
            selected = [i for i in selected if (i.get(date_field) or "") >= first]
        until = _single(query, "todate")
        if until is not None:
            last = parse_day("todate", until).isoformat()
            selected = [i for i in selected if (i.get(date_field) or "9999") <= last]
    modified = _single(query, "lastmodified") if spec.lastmodified else None
    if modified is not None:
        # LastModified is written to the minute, so comparing the texts compares the minutes.
        watermark = minute_text(to_minute(parse_lastmodified(modified)))
        selected = [i for i in selected if i["LastModified"] >= watermark]

    sort_field = spec.number_field
    sort_by = _single(query, "sortby")
    if sort_by is not None:
        sortable = {spec.number_field.lower(): spec.number_field, **spec.searches}
        if sort_by.lower() not in sortable:
            raise invalid_parameter(f"Ogiltigt värde för sortby: {sort_by!r}")
        sort_field = sortable[sort_by.lower()]
    order = (_single(query, "sortorder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise invalid_parameter(f"Ogiltigt värde för sortorder: {order!r}")
    selected.sort(key=lambda i: _sort_key(i.get(sort_field)), reverse=order == "descending")

    window = selected[(page - 1) * limit : page * limit]
    left_out = {spec.rows_field, *spec.hidden} - {None}
    if left_out:
        window = [{k: v for k, v in item.items() if k not in left_out} for item in window]
    return {
        "MetaInformation": {
            "@TotalResources": len(selected),
            "@TotalPages": max(1, math.ceil(len(selected) / limit)),
            "@CurrentPage": page,
        },
        spec.collection: window,
    }


def _is_invoiced(item: Item) -> bool:
    return bool(item["InvoiceReference"] != "0")


def _unpaid(item: Item) -> bool:
    return not item["Cancelled"] and item["Balance"] != 0


CUSTOMERS = ListSpec(
    collection="Customers",
    number_field="CustomerNumber",
    searches={
        "customernumber": "CustomerNumber",
        "name": "Name",
        "email": "Email",
        "organisationnumber": "OrganisationNumber",
    },
    hidden=("LastModified",),
)

ARTICLES = ListSpec(
    collection="Articles",
    number_field="ArticleNumber",
    searches={"articlenumber": "ArticleNumber", "description": "Description"},
)

ORDERS = ListSpec(
    collection="Orders",
    number_field="DocumentNumber",
    searches={
        "documentnumber": "DocumentNumber",
        "customernumber": "CustomerNumber",
        "externalinvoicereference1": "ExternalInvoiceReference1",
        "externalinvoicereference2": "ExternalInvoiceReference2",
        "yourordernumber": "YourOrderNumber",
        "yourreference": "YourReference",
    },
    filters={
        "cancelled": lambda item, today: bool(item["Cancelled"]),
        # Past its delivery date and still neither invoiced nor cancelled.
        "expired": lambda item, today: (
            not item["Cancelled"]
            and not _is_invoiced(item)
            and item["DeliveryDate"] is not None
            and item["DeliveryDate"] < today.isoformat()
        ),
        "invoicecreated": lambda item, today: _is_invoiced(item),
        "invoicenotcreated": lambda item, today: not item["Cancelled"] and not _is_invoiced(item),
    },
    date_field="OrderDate",
    rows_field="OrderRows",
)

INVOICES = ListSpec(
    collection="Invoices",
    number_field="DocumentNumber",
    searches={
        "documentnumber": "DocumentNumber",
        "customernumber": "CustomerNumber",
        "yourordernumber": "YourOrderNumber",
        "externalinvoicereference1": "ExternalInvoiceReference1",
        "externalinvoicereference2": "ExternalInvoiceReference2",
    },
    filters={
        "cancelled": lambda item, today: bool(item["Cancelled"]),
        "fullypaid": lambda item, today: bool(item["FullyPaid"]),
        # Unpaid includes the overdue ones; unpaidoverdue only those past their due date.
        "unpaid": lambda item, today: _unpaid(item),
        "unpaidoverdue": lambda item, today: _unpaid(item) and item["DueDate"] < today.isoformat(),
        "unbooked": lambda item, today: not item["Cancelled"] and not item["Booked"],
    },
    date_field="InvoiceDate",
    rows_field="InvoiceRows",
)
