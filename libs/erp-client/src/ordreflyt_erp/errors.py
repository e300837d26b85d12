"""The two ways an ERP request fails, whatever the ERP."""

from __future__ import annotations


class ErpRejected(Exception):
    """The ERP refused the request as invalid: retrying the same request will not help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ErpUnavailable(Exception):
    """The ERP did not answer usefully (5xx, timeout, connection): try again later."""
