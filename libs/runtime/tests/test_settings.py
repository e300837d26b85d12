"""A missing or malformed setting stops a service at start with a message naming it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Annotated, Literal

import asyncpg
import msgspec
import pytest

from ordreflyt_runtime.config import section
from ordreflyt_runtime.db import wait_for_database
from ordreflyt_runtime.retention import RetentionConfig
from ordreflyt_runtime.settings import ServiceSettings, SettingsError, load_toml, redact_url
from ordreflyt_testkit.infra import drop_database


def test_defaults_are_localhost() -> None:
    s = ServiceSettings.from_env("intake", 8000, env={})
    assert s.amqp_url == "amqp://guest:guest@localhost:5672/"
    assert s.database_url == "postgresql://postgres@localhost:5432/ordreflyt"
    assert s.http_port == 8000
    assert s.event_loop == "uvloop"
    assert ServiceSettings.from_env("intake", 8000, env={"EVENT_LOOP": "asyncio"}).event_loop == (
        "asyncio"
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HTTP_PORT", "eighty", "HTTP_PORT must be a whole number"),
        ("HTTP_PORT", "70000", "HTTP_PORT must be between"),
        ("AMQP_URL", "http://localhost", "AMQP_URL must be a URL"),
        ("DATABASE_URL", "postgresql://", "DATABASE_URL must be a URL"),
        ("DATABASE_URL", "postgresql://h:port/db", "DATABASE_URL has a malformed port"),
        ("PREFETCH", "0", "PREFETCH must be between"),
        ("AMQP_URL", "  ", "AMQP_URL is set but empty"),
        ("EVENT_LOOP", "tokio", "EVENT_LOOP must be one of uvloop, asyncio"),
    ],
)
def test_malformed_setting_is_named(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        ServiceSettings.from_env("intake", 8000, env={name: value})


def test_missing_config_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ORDREFLYT_CONFIG"):
        load_toml(tmp_path / "nope.toml")


def test_bad_toml_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[shops\n")
    with pytest.raises(SettingsError, match=r"ORDREFLYT_CONFIG: .* is not valid TOML"):
        load_toml(path)


def test_services_listen_on_loopback_unless_told_otherwise() -> None:
    assert ServiceSettings.from_env("intake", 8000, env={}).http_host == "127.0.0.1"
    assert ServiceSettings.from_env("intake", 8000, env={"HTTP_HOST": "0.0.0.0"}).http_host == (
        "0.0.0.0"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AMQP_URL", "amqp://ordreflyt:s3cr3t-pw@rabbit:notaport/"),
        ("DATABASE_URL", "postgresql://ordreflyt:s3cr3t-pw@db:notaport/x"),
        ("AMQP_URL", "http://ordreflyt:s3cr3t-pw@rabbit/"),
        ("DATABASE_URL", "postgresql://ordreflyt:s3cr3t-pw@[::1/x"),
    ],
)
def test_a_malformed_url_is_named_without_its_password(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        ServiceSettings.from_env("intake", 8000, env={name: value})
    assert name in str(caught.value)
    assert "s3cr3t-pw" not in str(caught.value)
    assert "***" in str(caught.value)


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("amqp://guest:guest@localhost:5672/") == "amqp://guest:***@localhost:5672/"
    assert redact_url("postgresql://postgres@localhost/x") == "postgresql://postgres@localhost/x"


def test_operator_token_is_optional_never_echoed_and_must_be_long_enough() -> None:
    assert ServiceSettings.from_env("intake", 8000, env={}).operator_token is None
    token = "a-long-enough-token-1234"
    assert ServiceSettings.from_env("x", 1, env={"OPERATOR_TOKEN": token}).operator_token == token
    with pytest.raises(SettingsError, match="OPERATOR_TOKEN is too short") as caught:
        ServiceSettings.from_env("x", 1, env={"OPERATOR_TOKEN": "short-pw"})
    assert "short-pw" not in str(caught.value)


def test_retry_delays_are_the_services_own_unless_set() -> None:
    assert ServiceSettings.from_env("x", 1, env={}).retry_delays_ms is None
    settings = ServiceSettings.from_env("x", 1, env={"RETRY_DELAYS_MS": "100, 200,400"})
    assert settings.retry_delays_ms == (100, 200, 400)
    with pytest.raises(SettingsError, match="RETRY_DELAYS_MS must be whole milliseconds"):
        ServiceSettings.from_env("x", 1, env={"RETRY_DELAYS_MS": "1s,2s"})
    with pytest.raises(SettingsError, match="between 10 and"):
        ServiceSettings.from_env("x", 1, env={"RETRY_DELAYS_MS": "0"})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"retention": {"inbox_days": 0}}, "[retention].inbox_days: expected int >= 1"),
        ({"retention": {"inbox_days": "x"}}, "[retention].inbox_days: expected int, got str"),
        ({"retention": {"inbox": 3}}, "[retention]: object contains unknown field inbox"),
        ({"retention": 5}, "[retention]: expected object, got int"),
    ],
)
def test_a_config_section_error_names_the_key(doc: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        section(doc, "retention", RetentionConfig)
    assert str(caught.value) == message


def test_a_missing_config_section_takes_the_defaults() -> None:
    assert section({}, "retention", RetentionConfig) == RetentionConfig()
    assert section({"retention": {"raw_deliveries_days": 120}}, "retention", RetentionConfig) == (
        RetentionConfig(raw_deliveries_days=120)
    )


@pytest.mark.integration
async def test_services_starting_together_create_the_database_once_and_quietly(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    fresh = database_url.rsplit("/", 1)[0] + f"/ordreflyt_race_{uuid.uuid4().hex[:8]}"
    try:
        await asyncio.gather(*(wait_for_database(fresh, 10) for _ in range(8)))
        admin = await asyncpg.connect(database_url.rsplit("/", 1)[0] + "/postgres")
        try:
            found = await admin.fetchval(
                "SELECT count(*) FROM pg_database WHERE datname = $1", fresh.rsplit("/", 1)[1]
            )
        finally:
            await admin.close()
        assert found == 1
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    finally:
        await drop_database(fresh)


class _Sample(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    mode: Literal["article", "freight"] = "article"
    status: Annotated[
        str, msgspec.Meta(pattern=r"^[a-z]+$", description="a status like 'processing'")
    ] = "processing"
    accounts: dict[str, int] = {}
    rates: list[int] = []


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"mode": "post"}, "[t].mode: invalid enum value 'post' (one of 'article', 'freight')"),
        ({"status": "Done!"}, "[t].status: expected a status like 'processing', got 'Done!'"),
        ({"accounts": {"25": 3001, "12": "x"}}, "[t].accounts.12: expected int, got str"),
        ({"rates": [1, 2, "x"]}, "[t].rates[2]: expected int, got str"),
    ],
)
def test_config_messages_name_the_key_and_say_what_is_expected(
    table: dict[str, object], message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        section({"t": table}, "t", _Sample)
    assert str(caught.value) == message
