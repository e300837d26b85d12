"""Signature checks on the raw body, with the current and the previous secret."""

from __future__ import annotations

import base64
import hashlib
import hmac

from ordreflyt_runtime.signing import signature_ok

BODY = '{"id":1,"status":"processing","billing":{"first_name":"Åse"}}'.encode()


def sig(secret: bytes, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def test_current_and_previous_secret_verify() -> None:
    secrets = (b"new", b"old")
    assert signature_ok(BODY, sig(b"new", BODY), secrets)
    assert signature_ok(BODY, sig(b"old", BODY), secrets)


def test_wrong_secret_changed_body_or_missing_header_fail() -> None:
    secrets = (b"new",)
    assert not signature_ok(BODY, sig(b"other", BODY), secrets)
    assert not signature_ok(BODY + b" ", sig(b"new", BODY), secrets)
    assert not signature_ok(BODY, None, secrets)
    assert not signature_ok(BODY, "", secrets)
