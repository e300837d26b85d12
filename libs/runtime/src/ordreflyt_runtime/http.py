"""HTTP helpers every service's routes use."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

# msgspec: faster than json.dumps on hot paths, and it writes datetimes, UUIDs and Decimals
# (as strings) without conversion code in every route.
_encoder = msgspec.json.Encoder(decimal_format="string")


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encoder.encode(body), status=status, content_type="application/json")
