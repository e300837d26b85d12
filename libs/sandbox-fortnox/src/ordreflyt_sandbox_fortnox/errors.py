"""Fortnox error answers: the `ErrorInformation` body, its codes, and the exception handlers raise.

Fortnox answers most errors as `{"ErrorInformation": {"error": 1, "message": "...", "code": N}}`
but its 404s come capitalised (`Error`, `Message`, `Code`), so clients must read both spellings.
Codes that Fortnox documents are used as documented; the rest are plausible stand-ins, named
here once so the handlers never spell a bare number.
"""

from __future__ import annotations

from typing import Any

# Documented by Fortnox.
SYSTEM_EXCEPTION = 1000003
NOT_NUMERIC = 2000108
NOT_BOOLEAN = 2000134
TOKEN_MISSING = 2000310
TOKEN_INVALID = 2000311
INVALID_PARAMETER = 2000588
CUSTOMER_NUMBER_IN_USE = 2000637
NO_LICENCE = 2001103
BAD_JSON = 2002115

# Stand-ins: Fortnox has codes for these cases, the exact numbers are not in our reference.
CUSTOMER_NOT_FOUND = 2000433
ARTICLE_NOT_FOUND = 2000428
ORDER_NOT_FOUND = 2000430
INVOICE_NOT_FOUND = 2000434
ROUTE_NOT_FOUND = 2000404
UNKNOWN_CUSTOMER_ON_DOCUMENT = 2000423
UNKNOWN_ARTICLE_ON_ROW = 2001302
DOCUMENT_NUMBER_IN_USE = 2000638
DOCUMENT_LOCKED = 2000744
INVOICE_BOOKED = 2000750
RATE_LIMITED = 2003429


class FortnoxError(Exception):
    """Raised by the store and the handlers; the error middleware turns it into the answer."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        if self.status == 404:
            return not_found_body(self.code, self.message)
        return error_body(self.code, self.message)


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"ErrorInformation": {"error": 1, "message": message, "code": code}}


def not_found_body(code: int, message: str) -> dict[str, Any]:
    return {"ErrorInformation": {"Error": 1, "Message": message, "Code": code}}


def bad_request(code: int, message: str) -> FortnoxError:
    return FortnoxError(400, code, message)


def invalid_parameter(message: str) -> FortnoxError:
    return FortnoxError(400, INVALID_PARAMETER, message)


def not_found(code: int, message: str) -> FortnoxError:
    return FortnoxError(404, code, message)


def fault_body(status: int) -> dict[str, Any]:
    """The body of an injected fault, shaped like what Fortnox sends for that status."""
    if status == 429:
        return error_body(RATE_LIMITED, "Too many requests")
    if status == 401:
        return error_body(TOKEN_INVALID, "Kan inte logga in, access-token saknas eller är ogiltig.")
    if status == 403:
        return error_body(NO_LICENCE, "Det saknas licens för den här resursen.")
    if status == 404:
        return not_found_body(ROUTE_NOT_FOUND, "Resursen hittades inte.")
    if status >= 500:
        return error_body(SYSTEM_EXCEPTION, "Ett oväntat fel inträffade, försök igen senare.")
    return error_body(INVALID_PARAMETER, "Ogiltig parameter i anropet.")
