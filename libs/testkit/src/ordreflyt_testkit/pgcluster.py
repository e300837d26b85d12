"""A PostgreSQL server of a test's own, on its own port, to stop and start in fault tests
without touching the server every other test uses.

Made with the server binaries of the machine's PostgreSQL (`initdb`, `pg_ctl`; found through
`pg_config --bindir` or /usr/lib/postgresql/<n>/bin), in a temporary directory, trust auth on
127.0.0.1. Run as root, the server runs as the `postgres` user (PostgreSQL refuses root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ordreflyt_testkit.processes import free_port


class PostgresUnavailable(RuntimeError):
    pass


def _bindir() -> Path:
    config = shutil.which("pg_config")
    if config is not None:
        out = subprocess.run([config, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise PostgresUnavailable(
            "this fault test needs PostgreSQL's server binaries (initdb, pg_ctl) to run a server"
            " of its own: install the postgresql package"
        )
    return Path(found[-1]).parent


class TempPostgres:
    def __init__(self, root: Path) -> None:
        self.bindir = _bindir()
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *argv: str) -> None:
        command = list(argv)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{' '.join(argv)} failed ({result.returncode}): {result.stderr[-2000:]}"
            )

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
            " -c fsync=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "start",
        )

    def stop(self, mode: str = "immediate") -> None:
        """`immediate`: as if the server died (connections cut, no checkpoint)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


@contextlib.contextmanager
def temp_postgres() -> Iterator[TempPostgres]:
    root = Path(tempfile.mkdtemp(prefix="ordreflyt-pg-"))
    server = TempPostgres(root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(PostgresUnavailable):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
