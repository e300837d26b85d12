"""Start Ordreflyt services and emulators as real processes, wait for them, stop or kill them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[4]


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (all held open while choosing, so none is handed out twice)."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            s = held.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


class ServiceProcess:
    """One console script (e.g. `ordreflyt-intake`) running with its own env and log file."""

    def __init__(
        self, script: str | list[str], env: dict[str, str], log_dir: Path, name: str | None = None
    ) -> None:
        # A console script name from the venv, or a full argv (e.g. [python, -m, module]).
        self.argv = (
            [str(Path(sys.executable).parent / script)] if isinstance(script, str) else script
        )
        self.name = name or (script if isinstance(script, str) else script[-1])
        self.env = env
        self.port = int(env["HTTP_PORT"])
        self.log_path = log_dir / f"{self.name}.log"
        # The service name a console script's /readyz reports ("ordreflyt-intake" -> "intake").
        self.service = script.removeprefix("ordreflyt-") if isinstance(script, str) else None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )

    async def wait_ready(self, path: str = "/readyz", timeout: float = 30.0) -> None:
        """Until `path` answers 200 from this process: a service's /readyz must name it, so a
        port taken by another process (a bind race) is not mistaken for this one."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}"
                    )
                try:
                    async with http.get(
                        self.url + path, timeout=aiohttp.ClientTimeout(total=2)
                    ) as r:
                        if r.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready within {timeout}s:\n{self.tail()}")

    def kill(self) -> int:
        """SIGKILL: no cleanup at all, as when a machine or container dies."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(30)

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    async def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} still running after {timeout}s")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop_quietly(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
