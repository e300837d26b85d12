"""Signatures of the signed endpoints (shop webhooks, shipment pushes): one check for all.

`base64(HMAC-SHA256(secret, raw body))`, compared in constant time against every accepted
secret (the current one and, during a rotation, the previous one), with no early exit, so the
time taken does not tell which secret matched or how much of a guess was right.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def sign(secret: bytes, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode("ascii")


def signature_ok(body: bytes, header: str | None, secrets: Iterable[bytes]) -> bool:
    if not header:
        return False
    given = header.strip().encode("utf-8", "replace")
    ok = False
    for secret in secrets:
        expected = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
        ok |= hmac.compare_digest(expected, given)
    return ok
