"""`POST /shipments/{shop}`: shipment events pushed by an ERP or a shipping system.

Signed like WooCommerce's webhooks: `X-Ordreflyt-Signature` = base64(HMAC-SHA256(secret, raw
body)), checked over the raw bytes by the runtime's one check (`ordreflyt_runtime.signing`:
constant-time, every secret tried) against FULFILLMENT_PUSH_SECRET (or
`[fulfillment].push_secret`) and FULFILLMENT_PUSH_SECRET_PREVIOUS. Body (JSON):

    {"order_id": 123,                 # the shop order, or instead:
     "erp_document_number": "17",     # the ERP order Ordreflyt created for it
     "parcels": [{"tracking_number": "00370...", "carrier": "PostNord", "url": "https://..."}],
     "complete": true,                # the order is delivered in full with this shipment
     "lines": {"ULL-SOKK-1001": 2},   # optional: what was sent (SKU -> quantity)
     "event_id": "sender-id-42"}      # optional: the sender's id of the event, for dedupe

1 to 4 parcels, each with a tracking number (`carrier` and `url` optional). Answers: 202
accepted (`effects`: the keys and whether each was new), 200 for an event already received
(same `event_id`, or the same body when there is none), 401 bad or missing signature, 400 with
the reason, 404 unknown shop or order (only orders Ordreflyt sent to the ERP), 413 body over
`push_max_body_bytes`, 503 when no secret is configured. The event and its effects are
committed to PostgreSQL before the answer and applied right after (and retried by every poll
until done), so the same shipment pushed twice, or also reported by the ERP with the same
tracking numbers, reaches the shop once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import msgspec
from aiohttp import web

from ordreflyt_fulfillment_listener import store
from ordreflyt_fulfillment_listener.applier import Applier
from ordreflyt_fulfillment_listener.config import FulfillmentConfig
from ordreflyt_fulfillment_listener.effects import Effect, Parcel, shipment_key, status_key
from ordreflyt_fulfillment_listener.metrics import FulfillmentMetrics
from ordreflyt_fulfillment_listener.store import encode_json, record_effects
from ordreflyt_runtime.signing import sign as sign  # both re-exported (the tests use them)
from ordreflyt_runtime.signing import signature_ok as signature_ok

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Ordreflyt-Signature"
MAX_PARCELS = 4
MAX_TEXT = 100


class PushParcel(msgspec.Struct, frozen=True):
    tracking_number: str
    carrier: str = ""
    url: str | None = None


class PushBody(msgspec.Struct, frozen=True):
    parcels: list[PushParcel]
    complete: bool
    order_id: int | str | None = None
    erp_document_number: str | int | None = None
    lines: dict[str, Decimal] | None = None
    event_id: str | None = None


_decoder = msgspec.json.Decoder(PushBody)


class PushError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def parse_push(raw: bytes) -> PushBody:
    """The body, checked; PushError(400) says what is wrong."""
    try:
        body = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise PushError(400, f"not JSON: {exc}") from None
    except msgspec.ValidationError as exc:
        raise PushError(400, f"invalid shipment: {exc}") from None
    if (body.order_id is None) == (body.erp_document_number is None):
        raise PushError(400, "give exactly one of order_id and erp_document_number")
    if not 1 <= len(body.parcels) <= MAX_PARCELS:
        raise PushError(400, f"parcels: 1 to {MAX_PARCELS} parcels, got {len(body.parcels)}")
    numbers = set()
    for n, parcel in enumerate(body.parcels):
        number = parcel.tracking_number.strip()
        if not number or len(number) > MAX_TEXT or not number.isprintable():
            raise PushError(400, f"parcels[{n}].tracking_number must be 1 to {MAX_TEXT} characters")
        if number in numbers:
            raise PushError(400, f"parcels[{n}].tracking_number {number!r} given twice")
        numbers.add(number)
        if len(parcel.carrier) > MAX_TEXT:
            raise PushError(400, f"parcels[{n}].carrier is longer than {MAX_TEXT} characters")
        if parcel.url is not None:
            parts = urlsplit(parcel.url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise PushError(400, f"parcels[{n}].url must be an http(s) URL")
    for sku, quantity in (body.lines or {}).items():
        if not sku or not quantity.is_finite() or quantity <= 0:
            raise PushError(400, f"lines[{sku!r}] must be a positive quantity")
    if body.event_id is not None and not 1 <= len(body.event_id) <= 200:
        raise PushError(400, "event_id must be 1 to 200 characters")
    return body


def push_effects(body: PushBody, received_at: datetime, config: FulfillmentConfig) -> list[Effect]:
    parcels = tuple(
        Parcel(tracking_number=p.tracking_number.strip(), carrier=p.carrier.strip(), url=p.url)
        for p in body.parcels
    )
    effects = [
        Effect(
            key=shipment_key(parcels, {}),
            kind="shipment",
            changed_at=received_at,
            source="push",
            lines=dict(body.lines or {}),
            parcels=parcels,
            complete=body.complete,
        )
    ]
    if body.complete and config.shipped_status:
        effects.append(
            Effect(
                key=status_key("shipped"),
                kind="status",
                changed_at=received_at,
                source="push",
                erp_state="shipped",
                status=config.shipped_status,
            )
        )
    return effects


def event_key(body: PushBody, raw: bytes) -> str:
    if body.event_id is not None:
        return "id:" + body.event_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


async def read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PushError(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise PushError(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class PushReceiver:
    """Checks and stores pushed shipments, and applies them in the background."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        shops: frozenset[str],
        applier: Applier,
        config: FulfillmentConfig,
        metrics: FulfillmentMetrics,
    ) -> None:
        self._pool = pool
        self._shops = shops
        self._applier = applier
        self._config = config
        self._metrics = metrics
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def run_forever(self) -> None:
        """Apply stored pushes as they come; what fails here is retried by the next poll."""
        while True:
            shop_id, order_id = await self._queue.get()
            try:
                await self._applier.drain(shop_id, order_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("applying a pushed shipment failed; the next poll retries it")

    async def handle(self, request: web.Request) -> web.Response:
        shop_id = request.match_info["shop"]
        try:
            status, answer = await self._receive(request, shop_id)
        except PushError as exc:
            self._metrics.pushes.labels(f"rejected-{exc.status}").inc()
            log.warning(
                "push rejected (%d): %s",
                exc.status,
                exc.reason,
                extra={"shop_id": shop_id, "http_status": exc.status},
            )
            return web.json_response({"error": exc.reason, "status": exc.status}, status=exc.status)
        return web.json_response(answer, status=status)

    async def _receive(self, request: web.Request, shop_id: str) -> tuple[int, dict[str, Any]]:
        if shop_id not in self._shops:
            raise PushError(404, f"unknown shop {shop_id!r}: no [shops.{shop_id}] in the config")
        if not self._config.push_secrets:
            raise PushError(
                503,
                "pushes are not accepted: set FULFILLMENT_PUSH_SECRET (or fulfillment.push_secret)",
            )
        raw = await read_limited(request, self._config.push_max_body_bytes)
        if not signature_ok(raw, request.headers.get(SIGNATURE_HEADER), self._config.push_secrets):
            raise PushError(401, f"missing or wrong {SIGNATURE_HEADER}")
        body = parse_push(raw)
        order_id = await self._order_id(shop_id, body)
        received_at = datetime.now(UTC)
        effects = push_effects(body, received_at, self._config)
        async with self._pool.acquire() as conn, conn.transaction():
            fresh_event = await store.add_push_event(
                conn, shop_id, event_key(body, raw), order_id, encode_json(body)
            )
            if not fresh_event:
                self._metrics.pushes.labels("duplicate").inc()
                log.info(
                    "pushed shipment already received",
                    extra={"shop_id": shop_id, "shop_order_id": order_id},
                )
                return 200, {"status": "duplicate", "order_id": order_id}
            fresh = await record_effects(conn, shop_id, order_id, effects)
        self._metrics.pushes.labels("accepted").inc()
        log.info(
            "pushed shipment accepted: %s",
            ", ".join(p.tracking_number for p in body.parcels),
            extra={"shop_id": shop_id, "shop_order_id": order_id},
        )
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait((shop_id, order_id))
        return 202, {
            "status": "accepted",
            "order_id": order_id,
            "effects": [{"key": e.key, "new": e.key in fresh} for e in effects],
        }

    async def _order_id(self, shop_id: str, body: PushBody) -> str:
        if body.order_id is not None:
            order_id = str(body.order_id)
            if not await store.linked_order(self._pool, shop_id, order_id):
                raise PushError(
                    404,
                    f"order {order_id} of shop {shop_id!r} was not sent to the ERP by Ordreflyt",
                )
            return order_id
        number = str(body.erp_document_number)
        found = await store.orders_of_document(self._pool, shop_id, number)
        if not found:
            raise PushError(404, f"no shop order of shop {shop_id!r} has ERP order {number}")
        return found[0]
