"""ERP API access shared by every service that talks to the ERP (erp-writer, and the services
that read shipments, invoices and stock back): errors, the shared rate limit, the Fortnox client.

Every process using one ERP credential shares one request budget and one OAuth token pair, so
both live in PostgreSQL, in the schema `ordreflyt_erp` that all services use together.
"""

from ordreflyt_erp.errors import ErpAmbiguous, ErpRejected, ErpUnavailable
from ordreflyt_erp.metrics import ErpMetrics

__all__ = ["ErpAmbiguous", "ErpMetrics", "ErpRejected", "ErpUnavailable"]
