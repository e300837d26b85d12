"""The ways an ERP request fails, whatever the ERP."""

from __future__ import annotations

from ordreflyt_runtime.errors import Unavailable


class ErpRejected(Exception):
    """The ERP refused the request as invalid: retrying the same request will not help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ErpUnavailable(Unavailable):
    """The ERP did not answer usefully (5xx, timeout, connection): try again later. A message
    whose handler raises this waits; it is never dead-lettered for it."""


class ErpAmbiguous(ErpUnavailable):
    """A request that creates something failed after it may have reached the ERP (a 5xx, a
    timeout, the connection lost after sending): it is NOT repeated blindly. The caller looks
    the thing up (a document by its reference, a customer by e-mail) and adopts it, or waits."""


class StockPointError(Exception):
    """The configured stock points do not match the ERP's (named in the message)."""
