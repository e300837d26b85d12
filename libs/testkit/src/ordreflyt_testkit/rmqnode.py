"""A RabbitMQ node of a run's own (its own name, ports and data directory), to stop and start
in fault runs without touching the broker every test uses. Made with the machine's
`rabbitmq-server` and `rabbitmqctl` (the Debian package's wrappers run it as `rabbitmq`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from ordreflyt_testkit.processes import free_ports


class RabbitUnavailable(RuntimeError):
    pass


class TempRabbit:
    def __init__(self, root: Path) -> None:
        if shutil.which("rabbitmq-server") is None or shutil.which("rabbitmqctl") is None:
            raise RabbitUnavailable("rabbitmq-server and rabbitmqctl are needed on PATH")
        self.root = root
        self.node = f"ordreflyt-{uuid.uuid4().hex[:6]}@localhost"
        self.port, self.dist_port = free_ports(2)

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
        }

    def ctl(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run(
            ["rabbitmqctl", "-n", self.node, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self._env(),
            check=False,
        )
        if result.returncode != 0:
            raise RabbitUnavailable(f"rabbitmqctl {' '.join(args)}: {result.stderr[-1000:]}")

    def start(self, timeout: float = 90) -> None:
        (self.root / "mnesia").mkdir(parents=True, exist_ok=True)
        (self.root / "log").mkdir(exist_ok=True)
        (self.root / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (self.root / "enabled_plugins").write_text("[].\n")
        if os.geteuid() == 0:
            shutil.chown(self.root, "rabbitmq", "rabbitmq")
            for path in self.root.rglob("*"):
                shutil.chown(path, "rabbitmq", "rabbitmq")
        subprocess.run(
            ["rabbitmq-server", "-detached"], env=self._env(), check=True, capture_output=True
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ctl("await_startup", "--timeout", "10", timeout=20)
                return
            except RabbitUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def stop_app(self) -> None:
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.ctl("await_startup")

    def stop(self) -> None:
        self.ctl("stop")


@contextlib.contextmanager
def temp_rabbitmq() -> Iterator[TempRabbit]:
    root = Path(tempfile.mkdtemp(prefix="ordreflyt-rmq-"))
    node = TempRabbit(root)
    try:
        node.start()
        yield node
    finally:
        with contextlib.suppress(Exception):
            node.stop()
        shutil.rmtree(root, ignore_errors=True)
