"""The real RabbitMQ and PostgreSQL the integration tests talk to.

With a reachable Docker engine, testcontainers starts both for the test session. Otherwise the
tests use the servers at AMQP_URL and DATABASE_URL (localhost defaults), each test session in
its own RabbitMQ virtual host and its own database, removed afterwards, so a running Ordreflyt
stack on the same servers is not disturbed. When neither is reachable the tests fail with a
message that says so; they are never skipped.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from ordreflyt_runtime.settings import DEFAULT_AMQP_URL, DEFAULT_DATABASE_URL

RABBITMQ_IMAGE = "rabbitmq:4.2-management"
POSTGRES_IMAGE = "postgres:15"


class InfraUnavailable(RuntimeError):
    pass


@dataclass
class Infra:
    kind: str  # "local" or "containers"
    amqp_url: str
    database_url: str
    rabbitmqctl: Callable[..., None]
    shell: Callable[[str], None]  # runs a shell command where the broker runs

    def stop_broker(self) -> None:
        self.rabbitmqctl("stop_app")

    def start_broker(self) -> None:
        self.rabbitmqctl("start_app")
        self.rabbitmqctl("await_startup")

    def import_definitions(self, document: dict[str, Any]) -> None:
        """Load a definitions document into the broker, as an operator would."""
        encoded = base64.b64encode(json.dumps(document).encode()).decode()
        self.shell(f"echo {encoded} | base64 -d > /tmp/ordreflyt-defs.json")
        self.rabbitmqctl("import_definitions", "/tmp/ordreflyt-defs.json")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "localhost", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def _docker_engine() -> bool:
    """A Docker engine that can run the broker and database images (they are on it already,
    or it can pull them); an engine that cannot is passed over for the local servers."""
    if os.environ.get("ORDREFLYT_TEST_INFRA") == "local":
        return False
    try:
        # docker (testcontainers' dependency) ships no type hints.
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        client.ping()
    except Exception:
        return False
    for image in (RABBITMQ_IMAGE, POSTGRES_IMAGE):
        try:
            client.images.get(image)
        except Exception:
            try:
                client.images.pull(image)
            except Exception:
                return False
    return True


def _local_rabbitmqctl(*args: str) -> None:
    exe = shutil.which("rabbitmqctl")
    if exe is None:
        raise InfraUnavailable(
            "rabbitmqctl is not on PATH: this test needs to stop and start the broker"
        )
    subprocess.run([exe, *args], check=True, capture_output=True, timeout=120)


def _local_shell(command: str) -> None:
    subprocess.run(["sh", "-c", command], check=True, capture_output=True, timeout=60)


def ctl_shell(container: Any, command: str) -> None:
    result: Any = container.exec(["sh", "-c", command])
    if result.exit_code != 0:
        raise RuntimeError(f"{command!r} failed in the broker container: {result.output!r}")


def _with_vhost(url: str, vhost: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(vhost, safe="")))


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def drop_database(database_url: str) -> None:
    """Remove the database a URL names (connections to it are ended)."""
    base, name = database_url.rsplit("/", 1)
    admin = await asyncpg.connect(base + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.contextmanager
def local_infra() -> Iterator[Infra]:
    amqp = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)
    database = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    missing = []
    if not _reachable(amqp, 5672):
        missing.append(f"RabbitMQ at {amqp.split('@')[-1]} (AMQP_URL)")
    if not _reachable(database, 5432):
        missing.append(f"PostgreSQL at {database.split('@')[-1]} (DATABASE_URL)")
    if missing:
        raise InfraUnavailable(
            "integration tests need a real RabbitMQ and PostgreSQL: no Docker engine for "
            f"testcontainers, and not reachable: {', '.join(missing)}. Start them (see README) "
            "or set AMQP_URL / DATABASE_URL."
        )
    suffix = uuid.uuid4().hex[:8]
    vhost = f"ordreflyt-test-{suffix}"
    user = urlsplit(amqp).username or "guest"
    has_ctl = shutil.which("rabbitmqctl") is not None
    if has_ctl:
        _local_rabbitmqctl("add_vhost", vhost)
        _local_rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        amqp_url = _with_vhost(amqp, vhost)
    else:
        amqp_url = amqp  # no way to make a vhost here: share the configured one
    try:
        yield Infra(
            kind="local",
            amqp_url=amqp_url,
            database_url=_with_database(database, f"ordreflyt_test_{suffix}"),
            rabbitmqctl=_local_rabbitmqctl,
            shell=_local_shell,
        )
    finally:
        if has_ctl:
            with contextlib.suppress(Exception):
                _local_rabbitmqctl("start_app")  # in case a test left it stopped
                _local_rabbitmqctl("delete_vhost", vhost)


@contextlib.contextmanager
def container_infra() -> Iterator[Infra]:
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer(RABBITMQ_IMAGE) as rabbit, PostgresContainer(POSTGRES_IMAGE) as pg:
        host = rabbit.get_container_host_ip()
        port = rabbit.get_exposed_port(5672)
        pg_url = pg.get_connection_url().replace("postgresql+psycopg2://", "postgresql://")

        def ctl(*args: str) -> None:
            result: Any = rabbit.exec(["rabbitmqctl", *args])
            if result.exit_code != 0:
                raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.output!r}")

        yield Infra(
            kind="containers",
            amqp_url=f"amqp://guest:guest@{host}:{port}/",
            database_url=_with_database(pg_url, "ordreflyt_test"),
            rabbitmqctl=ctl,
            shell=lambda command: ctl_shell(rabbit, command),
        )


@contextlib.contextmanager
def provide_infra() -> Iterator[Infra]:
    manager = container_infra() if _docker_engine() else local_infra()
    with manager as infra:
        yield infra
