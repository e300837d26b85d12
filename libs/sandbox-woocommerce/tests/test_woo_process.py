"""The console script as a real process: what it logs."""

from __future__ import annotations

from pathlib import Path

from ordreflyt_sandbox_kit.testing import EmulatorProcess

MODULE = "ordreflyt_sandbox_woocommerce"


async def test_the_process_logs_json_lines(tmp_path: Path) -> None:
    shop = EmulatorProcess(MODULE, tmp_path, "--products", "3")
    await shop.start("/_sandbox/state")
    assert await shop.stop() == 0
    assert shop.logged("serving on http://")  # and every line is JSON with the fields
