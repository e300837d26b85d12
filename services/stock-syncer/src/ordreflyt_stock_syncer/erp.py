"""Reading stock and articles from Fortnox, cheaply enough to do every few minutes.

- Stock: with the warehouse module ("Lager"), one `GET /api/warehouse/status-v1/stockbalance`
  (filtered to the selected stock points) gives AvailableStock per article and stock point.
  Without it (the stock points route answers 2001103, no licence) the stock is the article's
  DisposableQuantity (in stock minus reserved), from the article list, read in full each pass:
  whether a stock movement moves an article's LastModified is not documented.
- Articles (names, prices, VAT, weights, and which article numbers exist at all): kept in
  memory, read in full at start and every `full_refresh` seconds, and in between only those
  changed since the last read (`lastmodified`, Swedish local time to the minute, from a
  minute before the previous read began, so clock skew and the minute's granularity lose
  nothing). A restart reads the register once in full.
- If the article list leaves out `Weight` (the list may carry fewer fields than one article),
  weight sync reads single articles: those new or changed since their last read, at most
  DETAIL_READS_PER_PASS a pass, so the shared rate limit stays free for orders.
All requests go through the shared Fortnox client (rate limit, token, retries).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo

from ordreflyt_erp import ErpRejected
from ordreflyt_erp.fortnox import FortnoxClient
from ordreflyt_stock_syncer.config import StockConfig
from ordreflyt_stock_syncer.plan import ErpArticle, available_by_sku

log = logging.getLogger(__name__)

NO_LICENCE = "2001103"
PAGE_LIMIT = 500
DETAIL_READS_PER_PASS = 25
WATERMARK_MARGIN = timedelta(minutes=1)
SWEDEN = ZoneInfo("Europe/Stockholm")

StockMode = Literal["warehouse", "articles"]


class StockPointError(Exception):
    """The configured stock points do not match the ERP's."""


@dataclass
class ErpSnapshot:
    mode: StockMode
    articles: dict[str, ErpArticle]
    # Available stock per article number, summed over the selected stock points; only stock
    # articles are present.
    stock: dict[str, Decimal]
    stock_points: list[str]
    requests: int = 0
    seconds: float = 0.0  # waiting for Fortnox (rate limit included)
    full: bool = False
    warnings: list[str] = field(default_factory=list)


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _int(value: Any) -> int | None:
    number = _decimal(value)
    return None if number is None else int(number)


def parse_article(raw: dict[str, Any]) -> ErpArticle:
    """An article from a Fortnox list entry or resource (numbers may come as strings)."""
    stock_goods = raw.get("StockGoods")
    description = raw.get("Description")
    return ErpArticle(
        number=str(raw.get("ArticleNumber", "")),
        description=description if isinstance(description, str) else None,
        sales_price=_decimal(raw.get("SalesPrice")),
        vat=_decimal(raw.get("VAT")),
        weight_grams=_int(raw.get("Weight")),
        stock_goods=stock_goods if isinstance(stock_goods, bool) else None,
    )


def swedish_minute(moment: datetime) -> str:
    return moment.astimezone(SWEDEN).strftime("%Y-%m-%d %H:%M")


class ErpReader:
    """Reads what a pass needs from Fortnox and keeps the article register between passes."""

    def __init__(self, client: FortnoxClient, config: StockConfig) -> None:
        self._client = client
        self._config = config
        self._articles: dict[str, ErpArticle] = {}
        self._raw_modified: dict[str, str] = {}
        self._weight_read: dict[str, str] = {}  # article -> LastModified when its weight was read
        self._since: str | None = None
        self._full_at: float | None = None
        self._mode: StockMode | None = None
        self._points: list[str] = []
        self._seconds = 0.0

    async def _get(self, path: str, params: dict[str, str] | None = None, **kw: Any) -> Any:
        started = time.perf_counter()
        try:
            return await self._client.request("GET", path, params=params, **kw)
        finally:
            # Rate-limit waits included: they are the ERP's latency too.
            self._seconds += time.perf_counter() - started

    async def _stock_points(self) -> None:
        """Learn whether the warehouse module is there and which stock points it has."""
        try:
            points = await self._get("/stockpoints-v1", warehouse=True)
        except ErpRejected as rejected:
            if rejected.code != NO_LICENCE:
                raise
            self._mode, self._points = "articles", []
            return
        active = [
            str(p["code"]) for p in points or [] if isinstance(p, dict) and p.get("active", True)
        ]
        unknown = [p for p in self._config.stock_points if p not in active]
        if unknown:
            # Asked again next pass: the stock points may be set up in the ERP meanwhile.
            self._mode = None
            raise StockPointError(
                f"stock.stock_points: the ERP has no active stock point {', '.join(unknown)} "
                f"(it has {', '.join(active) or 'none'})"
            )
        self._mode, self._points = "warehouse", active

    async def _list_articles(self, since: str | None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"limit": str(PAGE_LIMIT), "page": str(page)}
            if since is not None:
                params["lastmodified"] = since
            body = await self._get("/articles", params)
            found.extend(a for a in body.get("Articles", []) if isinstance(a, dict))
            meta = body.get("MetaInformation", {})
            if page >= int(meta.get("@TotalPages", 1) or 1):
                return found
            page += 1

    async def _refresh_articles(self, full: bool) -> list[dict[str, Any]]:
        started = datetime.now(SWEDEN)
        since = None if full else self._since
        entries = await self._list_articles(since)
        if full:
            self._articles, self._raw_modified = {}, {}
        for raw in entries:
            article = parse_article(raw)
            if not article.number:
                continue
            self._articles[article.number] = article
            self._raw_modified[article.number] = str(raw.get("LastModified", ""))
        self._since = swedish_minute(started - WATERMARK_MARGIN)
        return entries

    async def _read_weights(self, entries: list[dict[str, Any]]) -> None:
        """Single reads for weights the list leaves out, changed ones first, capped per pass."""
        if not self._config.sync_weight or all("Weight" in e for e in entries):
            return
        todo = [
            number
            for number, modified in self._raw_modified.items()
            if self._weight_read.get(number) != modified
            and self._articles[number].weight_grams is None
        ]
        for number in todo[:DETAIL_READS_PER_PASS]:
            body = await self._get(f"/articles/{number}", missing_ok=True)
            raw = body.get("Article") if isinstance(body, dict) else None
            if isinstance(raw, dict):
                self._articles[number] = parse_article(raw)
            self._weight_read[number] = self._raw_modified[number]

    async def read(self, *, full: bool = False) -> ErpSnapshot:
        self._seconds, requests_before = 0.0, self._client.requests
        due = self._full_at is None or time.monotonic() - self._full_at >= (
            self._config.full_refresh
        )
        full = full or due
        if full or self._mode is None:
            await self._stock_points()
        assert self._mode is not None
        warnings: list[str] = []
        if self._mode == "articles":
            # The stock lives in the articles: read them all.
            entries = await self._refresh_articles(full=True)
            stock = {
                raw["ArticleNumber"]: quantity
                for raw in entries
                if raw.get("StockGoods", True) is not False
                and (quantity := _available(raw)) is not None
            }
            if self._config.stock_points:
                warnings.append(
                    "stock.stock_points is ignored: the ERP has no warehouse module"
                    " (one stock per article)"
                )
        else:
            entries = await self._refresh_articles(full=full)
            params = (
                {"stockPointCodes": ",".join(self._config.stock_points)}
                if self._config.stock_points
                else None
            )
            rows = await self._get("/status-v1/stockbalance", params, warehouse=True)
            selected = self._config.stock_points or self._points
            stock = available_by_sku(
                (
                    (str(r["ItemId"]), str(r["StockPointCode"]), value)
                    for r in rows or []
                    if isinstance(r, dict)
                    and (value := _decimal(r.get("AvailableStock"))) is not None
                ),
                selected,
            )
        await self._read_weights(entries)
        if full:
            self._full_at = time.monotonic()
        return ErpSnapshot(
            mode=self._mode,
            articles=dict(self._articles),
            stock=stock,
            stock_points=list(self._config.stock_points or self._points),
            requests=self._client.requests - requests_before,
            seconds=self._seconds,
            full=full,
            warnings=warnings,
        )


def _available(raw: dict[str, Any]) -> Decimal | None:
    disposable = _decimal(raw.get("DisposableQuantity"))
    if disposable is not None:
        return disposable
    in_stock = _decimal(raw.get("QuantityInStock"))
    if in_stock is None:
        return None
    return in_stock - (_decimal(raw.get("ReservedQuantity")) or Decimal(0))
