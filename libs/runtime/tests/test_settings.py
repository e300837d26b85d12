"""A missing or malformed setting stops a service at start with a message naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ordreflyt_runtime.settings import ServiceSettings, SettingsError, load_toml


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
