"""Which shop data an ERP customer was last written from, so an older order never overwrites it.

Orders do not reach the ERP in the order they were placed: one is held, a newer one of the same
customer creates or updates the customer, then the held one is released. Each remembered
customer keeps the time of the shop data it was last written from (`customers.data_at`, the
`customer_data_at` of the order: when the shop took that data); a customer is updated from an
order only when the order's data is not older. The order's document is created either way, for
the customer as the ERP has it (its delivery address is the order's own).

An order without the time (sent before order-mapper set it) updates as before; a customer the
ERP has but Ordreflyt does not remember is updated, as nothing tells its age.
"""

from __future__ import annotations

from datetime import datetime


def is_older(order_data_at: datetime | None, written_at: datetime | None) -> bool:
    """Whether an order's customer data is older than what the ERP customer was written from."""
    return order_data_at is not None and written_at is not None and order_data_at < written_at
