"""`on()` is typed: mypy refuses a handler registered for an event type it does not take, and
accepts the right one (checked by running mypy on two small modules)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MODULE = """
from ordreflyt_contracts import OrderDeleted, OrderReceived
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.spec import on


class Service:
    async def order_received(self, event: OrderReceived, ctx: HandlerContext) -> None:
        return None


subscription = on({event}, Service.order_received)
"""


def check(tmp_path: Path, event: str) -> tuple[str, int]:
    path = tmp_path / f"handlers_{event.lower()}.py"
    path.write_text(MODULE.format(event=event))
    # In a process of its own: mypy raises the interpreter's recursion limit for good.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path / ".mypy"),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result.stdout + result.stderr, result.returncode


def test_a_handler_for_the_wrong_event_type_is_refused_by_mypy(tmp_path: Path) -> None:
    output, status = check(tmp_path, "OrderDeleted")
    assert status == 1, output
    assert 'Argument 2 to "on" has incompatible type' in output, output


def test_a_handler_for_its_own_event_type_passes_mypy(tmp_path: Path) -> None:
    output, status = check(tmp_path, "OrderReceived")
    assert status == 0, output
