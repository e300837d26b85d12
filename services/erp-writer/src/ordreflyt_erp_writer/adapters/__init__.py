"""ERP adapters: one per ERP, behind the `ErpAdapter` interface, chosen by the ERP setting."""

from ordreflyt_erp_writer.adapters.base import (
    CustomerRef,
    ErpAdapter,
    ErpDocument,
    ErpRejected,
    ErpUnavailable,
)

__all__ = ["CustomerRef", "ErpAdapter", "ErpDocument", "ErpRejected", "ErpUnavailable"]
