"""The console script as a real process: what it logs."""

from __future__ import annotations

from pathlib import Path

from ordreflyt_sandbox_kit.testing import EmulatorProcess

MODULE = "ordreflyt_sandbox_fortnox"


async def test_the_process_logs_json_lines(tmp_path: Path) -> None:
    fortnox = EmulatorProcess(MODULE, tmp_path, "--products", "3")
    await fortnox.start("/_sandbox/stats")
    assert await fortnox.stop() == 0
    assert fortnox.logged("serving on http://")  # and every line is JSON with the fields
