"""An emulator run as a real process, for the tests of what only a process shows: the lines it
logs, how it refuses to start, and the state it keeps across a restart or a kill.

    emulator = EmulatorProcess("ordreflyt_sandbox_fortnox", tmp_path, "--products", "5")
    await emulator.start("/_sandbox/stats")
    ...
    await emulator.stop()              # SIGTERM, as `down.sh` stops it; or signal.SIGKILL
    emulator.log_lines()               # every line it logged, parsed and checked

and `seen_from(app, "203.0.113.9")`, which makes an app built in a test take every request for
one from that address (the test client's own is loopback).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

START_SECONDS = 20.0
# What every log line of the emulators and the services has.
LOG_FIELDS = frozenset({"ts", "level", "service", "logger", "msg"})


def seen_from(app: web.Application, remote: str) -> None:
    """Make `app` (not yet started) see every request as coming from `remote`."""

    @web.middleware
    async def elsewhere(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await handler(request.clone(remote=remote))

    app.middlewares.insert(0, elsewhere)


def _inherited() -> dict[str, str]:
    """This process's environment without a state file setting (`WOO_STATE_FILE`, ...), so a
    shell that sets one cannot slip a saved state into a test."""
    return {k: v for k, v in os.environ.items() if not k.endswith("_STATE_FILE")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmulatorProcess:
    def __init__(
        self, module: str, log_dir: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.module = module
        # The name it logs under: ordreflyt_sandbox_fortnox logs as "sandbox-fortnox".
        self.service = module.removeprefix("ordreflyt_").replace("_", "-")
        self.args = args
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{module}.{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    def _popen(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", self.module, "--port", str(self.port), *self.args],
                env={**_inherited(), **self.env, "PYTHONUNBUFFERED": "1"},
                stdout=log,
                stderr=log,
            )

    async def start(self, ready_path: str) -> None:
        """Start the process and wait until `ready_path` answers; fails with the log if not."""
        self.process = self._popen()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_SECONDS
        async with aiohttp.ClientSession() as session:
            while loop.time() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(f"{self.module} exited at start:\n{self.log_text()}")
                try:
                    async with session.get(self.url + ready_path) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        await self.stop(signal.SIGKILL)
        raise AssertionError(f"{self.module} not ready in {START_SECONDS} s:\n{self.log_text()}")

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One request (a JSON body, if any) to the running emulator: status and JSON answer."""
        async with (
            aiohttp.ClientSession(headers=headers) as session,
            session.request(method, self.url + path, json=body) as response,
        ):
            return response.status, await response.json(content_type=None)

    async def refusal(self) -> str:
        """Run a process that is expected to refuse to start: what it said, once it has exited
        with a failure status."""
        self.process = self._popen()
        status = await self._wait()
        assert status != 0, f"{self.module} exited with 0:\n{self.log_text()}"
        return self.log_text()

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.process is not None, "not started"
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return await self._wait()

    async def _wait(self) -> int:
        assert self.process is not None
        try:
            self.returncode = await asyncio.to_thread(self.process.wait, START_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"{self.module} did not stop:\n{self.log_text()}") from None
        return self.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_lines(self) -> list[dict[str, Any]]:
        """Every line the process wrote, each parsed as a JSON object with the `LOG_FIELDS` and
        this emulator's service name; fails on any line that is not."""
        parsed = []
        for line in self.log_text().splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                raise AssertionError(f"not a JSON log line: {line!r}") from None
            assert isinstance(value, dict), f"not a JSON object: {line!r}"
            assert set(value) >= LOG_FIELDS, f"fields missing: {line!r}"
            assert value["service"] == self.service, line
            parsed.append(value)
        return parsed

    def logged(self, text: str) -> bool:
        """Whether some log line's message contains `text`."""
        return any(text in str(line["msg"]) for line in self.log_lines())
