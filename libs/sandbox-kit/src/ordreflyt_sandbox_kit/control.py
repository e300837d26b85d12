"""Who may use the `/_sandbox` control routes: only this machine, unless opened on purpose.

The control routes read, reset and steer an emulator without any authentication, so by default
they answer only requests from a loopback address (127.0.0.0/8, ::1). An emulator in a
container, whose tests reach it from the host, is started with `--open-control` (or
`SANDBOX_OPEN_CONTROL=1`) to answer everyone. Any other request gets 403 with a JSON reason
that says so. The emulated APIs keep their own authentication and are not affected.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

CONTROL_PREFIX = "/_sandbox"
OPEN_CONTROL_FLAG = "--open-control"
OPEN_CONTROL_ENV = "SANDBOX_OPEN_CONTROL"


def is_control_path(path: str) -> bool:
    return path.startswith(CONTROL_PREFIX)


def is_loopback(remote: str | None) -> bool:
    """Whether a peer address is this machine (an IPv4-mapped IPv6 loopback counts too)."""
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def control_guard(open_control: bool) -> Middleware:
    """Middleware that refuses control requests from other machines unless `open_control`."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if open_control or not is_control_path(request.path) or is_loopback(request.remote):
            return await handler(request)
        return web.json_response(
            {
                "error": (
                    "the /_sandbox control routes answer only requests from this machine "
                    "(127.0.0.1 or ::1); to open them to other hosts, as in a container reached "
                    f"from its host, start the sandbox with {OPEN_CONTROL_FLAG} or "
                    f"{OPEN_CONTROL_ENV}=1"
                ),
                "remote": request.remote,
            },
            status=403,
        )

    return guard
