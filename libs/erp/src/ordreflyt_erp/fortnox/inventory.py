"""Fortnox stock and articles (`StockReader`, `ArticleReader`), cheap enough to read every few
minutes.

- Stock: with the warehouse module ("Lager"), one `GET /api/warehouse/status-v1/stockbalance`
  (filtered to the asked stock points) gives AvailableStock per article and stock point; the
  active stock points are read at start, every `full_refresh` seconds, and when a point is
  asked for that was not there. Without the module (the stock points route answers 2001103, no
  licence) the stock is the article's DisposableQuantity (in stock minus reserved) under the
  point "", from the article list read in full on every `stock()`: whether a stock movement
  moves an article's LastModified is not documented. That list is the register too, so the
  `articles()` that follows it reads nothing.
- Articles (names, prices, VAT, weights, and which article numbers exist at all): kept in
  memory, read in full at start and every `full_refresh` seconds, and in between only those
  changed since the last read (`lastmodified`, the account's local time to the minute, from a
  minute before the previous read began, so clock skew and the minute's granularity lose
  nothing; `times.query_from` also steps back the hour the clocks go back in autumn). A
  restart reads the register once in full.
- When the article list leaves out `Weight` (the list may carry fewer fields than one
  article), `articles(weights=True)` reads single articles: those new or changed since their
  last single read, the latest listed first, at most `detail_reads_per_pass` a call, so the
  shared rate limit stays free for orders.
All requests go through the account's client (rate limit, token, retries) by `_get`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo

from ordreflyt_erp.capabilities import Articles, ErpArticle, StockLevels
from ordreflyt_erp.errors import ErpRejected, StockPointError
from ordreflyt_erp.fortnox.client import FortnoxClient
from ordreflyt_erp.fortnox.times import minute_text, query_from, utc_to_local_minute
from ordreflyt_erp.options import ErpOptions
from ordreflyt_erp.ratelimit import Priority

__all__ = ["NO_LICENCE", "FortnoxInventory", "parse_article"]

NO_LICENCE = "2001103"
PAGE_LIMIT = 500
# Incremental article reads start this many minutes before the previous read began.
MARGIN_MINUTES = 1
NO_POINTS = ""  # the stock point of an account without the warehouse module
POINTS_IGNORED = "stock points ignored: the ERP has no warehouse module (one stock per article)"

Mode = Literal["warehouse", "articles"]
Raw = dict[str, Any]


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _int(value: Any) -> int | None:
    number = _decimal(value)
    return None if number is None or not number.is_finite() else int(number)


def parse_article(raw: Raw) -> ErpArticle:
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


def available(raw: Raw) -> Decimal | None:
    """An article's stock: DisposableQuantity, else in stock less reserved."""
    disposable = _decimal(raw.get("DisposableQuantity"))
    if disposable is not None:
        return disposable
    in_stock = _decimal(raw.get("QuantityInStock"))
    if in_stock is None:
        return None
    return in_stock - (_decimal(raw.get("ReservedQuantity")) or Decimal(0))


def _balances(rows: Any, points: Sequence[str]) -> dict[str, dict[str, Decimal]]:
    """AvailableStock per article and stock point, of the given points only."""
    found: dict[str, dict[str, Decimal]] = {}
    for row in rows or []:
        if not isinstance(row, dict):
            continue
        point = str(row.get("StockPointCode", ""))
        value = _decimal(row.get("AvailableStock"))
        if value is None or point not in points:
            continue
        by_point = found.setdefault(str(row.get("ItemId", "")), {})
        by_point[point] = by_point.get(point, Decimal(0)) + value
    return found


class FortnoxInventory:
    """One Fortnox account's stock and article register, kept between reads."""

    def __init__(self, client: FortnoxClient, options: ErpOptions) -> None:
        self._client = client
        self._options = options
        self._zone = ZoneInfo(client.settings.timezone)
        # The register, and each article's LastModified as last listed.
        self._articles: dict[str, ErpArticle] = {}
        self._modified: dict[str, str] = {}
        # Article -> the LastModified it had when its weight was read on its own.
        self._weight_read: dict[str, str] = {}
        # Whether the article list carries `Weight` (None: no article listed yet).
        self._weights_listed: bool | None = None
        # The local minute the last article read began, and when the last full one was.
        self._read_from: datetime | None = None
        self._full_at: float | None = None
        self._mode: Mode | None = None
        self._points: list[str] = []
        self._points_at: float | None = None
        # Without the warehouse module: the list `stock()` read, for the next `articles()`.
        self._listed: list[Raw] | None = None

    async def _get(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        warehouse: bool = False,
        missing_ok: bool = False,
    ) -> Any:
        """Every request of this module: reads, behind the account's shared rate limit, after
        any waiting order write or watcher read (their priority)."""
        return await self._client.request(
            "GET",
            path,
            params=params,
            warehouse=warehouse,
            missing_ok=missing_ok,
            priority=Priority.STOCK,
        )

    # ------------------------------------------------------------ StockReader

    async def stock(self, stock_points: Sequence[str]) -> StockLevels:
        wanted = list(dict.fromkeys(stock_points))
        if await self._stock_mode(wanted) == "articles":
            return await self._article_stock(wanted)
        points = wanted or self._points
        params = {"stockPointCodes": ",".join(wanted)} if wanted else None
        rows = await self._get("/status-v1/stockbalance", params, warehouse=True)
        return StockLevels(by_article=_balances(rows, points), stock_points=points, per_point=True)

    async def _stock_mode(self, wanted: Sequence[str]) -> Mode:
        """Whether the account has the warehouse module; with it, that the points exist."""
        stale = self._points_at is None or self._due(self._points_at)
        unknown = self._mode == "warehouse" and any(p not in self._points for p in wanted)
        if self._mode is None or stale or unknown:
            await self._read_stock_points()
        assert self._mode is not None
        missing = [p for p in wanted if p not in self._points]
        if self._mode == "warehouse" and missing:
            raise StockPointError(
                f"the ERP has no active stock point {', '.join(missing)}"
                f" (it has {', '.join(self._points) or 'none'})"
            )
        return self._mode

    async def _read_stock_points(self) -> None:
        try:
            points = await self._get("/stockpoints-v1", warehouse=True)
        except ErpRejected as rejected:
            if rejected.code != NO_LICENCE:
                raise
            self._mode, self._points = "articles", []
        else:
            self._mode = "warehouse"
            self._points = [
                str(p["code"])
                for p in points or []
                if isinstance(p, dict) and "code" in p and p.get("active", True)
            ]
        self._points_at = time.monotonic()

    async def _article_stock(self, wanted: Sequence[str]) -> StockLevels:
        """No warehouse module: the stock lives in the articles, so read them all."""
        listed = await self._read_register(full=True)
        self._listed = listed
        by_article = {
            number: {NO_POINTS: quantity}
            for raw in listed
            if raw.get("StockGoods", True) is not False
            and (number := str(raw.get("ArticleNumber", "")))
            and (quantity := available(raw)) is not None
        }
        return StockLevels(
            by_article=by_article,
            stock_points=[],
            per_point=False,
            warnings=[POINTS_IGNORED] if wanted else [],
        )

    # ------------------------------------------------------------ ArticleReader

    async def articles(self, *, full: bool, weights: bool) -> Articles:
        listed, self._listed = self._listed, None
        if listed is None:
            full = full or self._full_at is None or self._due(self._full_at)
            listed = await self._read_register(full=full)
        else:
            full = True  # `stock()` just read the whole list
        if weights:
            await self._read_weights(listed)
        return Articles(articles=dict(self._articles), full=full)

    def _due(self, since: float) -> bool:
        return time.monotonic() - since >= self._options.full_refresh

    async def _read_register(self, *, full: bool) -> list[Raw]:
        """List the articles (all, or those changed since the last read) into the register."""
        started = utc_to_local_minute(datetime.now(UTC), self._zone)
        since = None
        if not full and self._read_from is not None:
            since = query_from(self._read_from, MARGIN_MINUTES, self._zone, datetime.now(UTC))
        listed = await self._list_articles(None if since is None else minute_text(since))
        if since is None:
            self._articles, self._modified = {}, {}
            self._full_at = time.monotonic()
        for raw in listed:
            article = parse_article(raw)
            if article.number:
                self._articles[article.number] = article
                self._modified[article.number] = str(raw.get("LastModified", ""))
        if listed:
            self._weights_listed = all("Weight" in raw for raw in listed)
        self._read_from = started
        return listed

    async def _list_articles(self, since: str | None) -> list[Raw]:
        found: list[Raw] = []
        page = 1
        while True:
            params = {"limit": str(PAGE_LIMIT), "page": str(page)}
            if since is not None:
                params["lastmodified"] = since
            body = await self._get("/articles", params)
            body = body if isinstance(body, dict) else {}
            found.extend(a for a in body.get("Articles") or [] if isinstance(a, dict))
            meta = body.get("MetaInformation") or {}
            if page >= int(meta.get("@TotalPages", 1) or 1):
                return found
            page += 1

    async def _read_weights(self, listed: Iterable[Raw]) -> None:
        """Single reads for the weights the list leaves out: the latest listed first, then
        those left over from earlier calls; at most `detail_reads_per_pass`."""
        if self._weights_listed is not False:
            return
        latest = [str(raw.get("ArticleNumber", "")) for raw in listed]
        todo = [
            number
            for number in dict.fromkeys([*latest, *self._modified])
            if number in self._modified
            and self._weight_read.get(number) != self._modified[number]
            and self._articles[number].weight_grams is None
        ]
        for number in todo[: self._options.detail_reads_per_pass]:
            body = await self._get(f"/articles/{number}", missing_ok=True)
            raw = body.get("Article") if isinstance(body, dict) else None
            if isinstance(raw, dict) and str(raw.get("ArticleNumber", number)) == number:
                self._articles[number] = parse_article({"ArticleNumber": number, **raw})
            self._weight_read[number] = self._modified[number]
