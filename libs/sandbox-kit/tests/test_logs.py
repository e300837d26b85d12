"""The emulators' log lines: one JSON object a line, with the fields the services write."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from ordreflyt_sandbox_kit.logs import setup_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = io.StringIO()
    setup_logging("sandbox-test", stream=out)
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_record_is_one_json_object_with_the_services_fields(stream: io.StringIO) -> None:
    log = logging.getLogger("ordreflyt_sandbox_test.part")
    log.info("placed order %s", 164)
    log.warning("two\nlines", extra={"order_id": 164, "when": datetime(2026, 3, 2, 9, 0)})
    first, second = lines(stream)
    assert first["service"] == "sandbox-test"
    assert first["logger"] == "ordreflyt_sandbox_test.part"
    assert first["level"] == "info"
    assert first["msg"] == "placed order 164"
    assert str(first["ts"]).endswith("+00:00")
    assert second["level"] == "warning"
    assert second["msg"] == "two\nlines"
    assert second["order_id"] == 164
    assert second["when"] == "2026-03-02 09:00:00"  # not JSON by itself: logged as text


def test_a_traceback_stays_inside_its_line(stream: io.StringIO) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("x").exception("it failed")
    (line,) = lines(stream)
    assert line["level"] == "error"
    assert "RuntimeError: boom" in str(line["exc"])
