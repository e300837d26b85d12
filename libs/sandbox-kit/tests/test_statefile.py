"""State files: records to JSON and back, the file's checks, atomic saves and the keeper."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ordreflyt_sandbox_kit.jsonio import dumps, loads
from ordreflyt_sandbox_kit.statefile import (
    CRASH_SKIP,
    StateFileError,
    StateFormatError,
    StateKeeper,
    from_plain,
    read_document,
    to_plain,
    write_document,
)


@dataclass(frozen=True)
class Tax:
    rate_id: int
    total: Decimal
    subtotal: Decimal | None = None


@dataclass
class Line:
    id: int
    taxes: tuple[Tax, ...]
    meta: Any = None


@dataclass
class Shop:
    orders: dict[int, Line]
    at: datetime
    local: datetime
    day: date
    tags: set[str] = field(default_factory=set)
    seen: Counter[str] = field(default_factory=Counter)
    extra: dict[str, Any] = field(default_factory=dict)
    note: str | None = None


SHOP = Shop(
    orders={
        164: Line(
            164, (Tax(1, Decimal("19.55217391"), Decimal("20.00")),), {"x": [Decimal("0.10")]}
        ),
        165: Line(165, ()),
    },
    at=datetime(2026, 3, 2, 9, 0, 1, tzinfo=UTC),
    local=datetime(2026, 3, 2, 10, 0),
    day=date(2026, 3, 2),
    tags={"b", "a"},
    seen=Counter({"GET /orders": 3}),
    extra={"Price": Decimal("1E+3"), "Qty": 2, "Flag": True, "Nothing": None},
)


def test_records_come_back_as_they_were_written() -> None:
    text = dumps(to_plain(SHOP))
    again = from_plain(Shop, loads(text))
    assert again == SHOP
    assert isinstance(again.orders[164].taxes, tuple)
    assert again.orders[164].meta == {"x": [Decimal("0.10")]}
    assert str(again.orders[164].taxes[0].total) == "19.55217391"


def test_a_value_that_does_not_fit_is_named_by_its_place() -> None:
    plain = to_plain(SHOP)
    plain["orders"]["164"]["taxes"][0]["total"] = "many"
    with pytest.raises(StateFormatError, match=r"\['164'\]\.taxes\[0\]\.total: expected a number"):
        from_plain(Shop, plain)
    plain = to_plain(SHOP)
    plain["orders"]["165"]["colour"] = "red"
    with pytest.raises(StateFormatError, match="Line has no field 'colour'"):
        from_plain(Shop, plain)
    del plain["orders"]["165"]["colour"], plain["at"]
    with pytest.raises(StateFormatError, match="Shop lacks the field 'at'"):
        from_plain(Shop, plain)
    with pytest.raises(StateFormatError, match="expected int, found True"):
        from_plain(Line, {"id": True, "taxes": []})


def test_lines_depth_puts_records_on_lines_of_their_own() -> None:
    text = dumps({"state": {"orders": [{"id": 1}, {"id": 2}], "empty": []}}, lines_depth=3)
    assert text.splitlines() == [
        "{",
        '  "state":{',
        '    "orders":[',
        '      {"id":1},',
        '      {"id":2}',
        "    ],",
        '    "empty":[]',
        "  }",
        "}",
    ]
    assert json.loads(text) == json.loads(dumps(json.loads(text)))


KIND = "ordreflyt-sandbox-test"


def document(**changes: Any) -> dict[str, Any]:
    return {"kind": KIND, "version": 1, "made_with": {}, "state": {}, **changes}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "it is empty"),
        (b'{"kind": "ordreflyt-sandbox-test", "vers', "it is not valid JSON"),
        (b"\xff\xfe", "it is not valid JSON"),
        (b"[]", "it is not a state file of ordreflyt-sandbox-test"),
        (json.dumps(document(kind="ordreflyt-sandbox-fortnox")).encode(), "its kind is"),
        (json.dumps(document(version=2)).encode(), "format version 2"),
        (json.dumps(document(state=None)).encode(), "'state' object is missing"),
    ],
)
def test_a_file_that_cannot_be_used_is_refused_with_its_name(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "shop.json"
    path.write_bytes(content)
    with pytest.raises(StateFileError) as caught:
        read_document(path, KIND, 1)
    message = str(caught.value)
    assert str(path) in message
    assert problem in message
    assert "to start clean, move the file away or delete it" in message
    assert path.read_bytes() == content  # left as it was


def test_no_file_is_a_fresh_start(tmp_path: Path) -> None:
    assert read_document(tmp_path / "none.json", KIND, 1) is None


def test_writing_replaces_the_file_in_one_step(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    write_document(path, document(state={"n": Decimal("0.30")}))
    write_document(path, document(state={"n": Decimal("0.40")}))
    assert read_document(path, KIND, 1) == document(state={"n": Decimal("0.40")})
    assert [p.name for p in tmp_path.iterdir()] == ["shop.json"]


@dataclass
class Held:
    value: int = 0


def keeper_for(path: Path, held: Held, **made_with: Any) -> StateKeeper:
    return StateKeeper(
        path,
        KIND,
        1,
        made_with=made_with,
        snapshot=lambda: to_plain(held),
        summary=lambda: {"value": held.value},
        interval=0.05,
    )


def test_a_file_made_with_other_settings_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    write_document(path, document(made_with={"products": 40}, state={"value": 1}))
    with pytest.raises(StateFileError, match=r"started with products = 40, and this one has 60"):
        keeper_for(path, Held(), products=60).load(lambda state, skip: None)

    def restore_wrong_type(state: dict[str, Any], skip: int) -> None:
        from_plain(Held, {"value": "one"})

    with pytest.raises(StateFileError, match=r"state\.value: expected int"):
        keeper_for(path, Held(), products=40).load(restore_wrong_type)
    held = Held()

    def restore(state: dict[str, Any], skip: int) -> None:
        held.value = from_plain(Held, state).value + skip

    assert keeper_for(path, held, products=40).load(restore) is True
    assert held.value == 1 + CRASH_SKIP  # the file does not say it was saved at a clean stop


async def test_the_keeper_saves_at_start_while_changing_and_at_stop(tmp_path: Path) -> None:
    path = tmp_path / "state" / "shop.json"
    held = Held()
    keeper = keeper_for(path, held)
    assert keeper.load(lambda state, skip: None) is False

    async def bump(request: web.Request) -> web.Response:
        held.value += 1
        return web.json_response({"value": held.value})

    async def read(request: web.Request) -> web.Response:
        return web.json_response({"value": held.value})

    app = web.Application(middlewares=[keeper.middleware])
    app.router.add_post("/bump", bump)
    app.router.add_get("/read", read)
    app.cleanup_ctx.append(keeper.run)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        saved = read_document(path, KIND, 1)
        assert saved is not None
        assert saved["state"] == {"value": 0}  # written at start
        assert saved["stopped_cleanly"] is False
        for _ in range(3):
            await client.get("/read")
        await asyncio.sleep(0.2)
        assert keeper.saves == 1  # reads make no save due
        await client.post("/bump")
        for _ in range(100):
            saved = read_document(path, KIND, 1)
            if saved is not None and saved["state"] == {"value": 1}:
                break
            await asyncio.sleep(0.02)
        assert saved is not None
        assert saved["state"] == {"value": 1}
        assert saved["summary"] == {"value": 1}
        held.value = 7  # a change no request announced: still saved at stop
    finally:
        await client.close()
    saved = read_document(path, KIND, 1)
    assert saved is not None
    assert saved["state"] == {"value": 7}
    assert saved["stopped_cleanly"] is True
    skips: list[int] = []
    assert keeper_for(path, Held()).load(lambda state, skip: skips.append(skip)) is True
    assert skips == [0]
