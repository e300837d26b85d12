"""Intake's config: shops, secrets (env overrides the file), statuses, body limit."""

from __future__ import annotations

import pytest

from ordreflyt_intake.config import load_intake_config
from ordreflyt_runtime.settings import SettingsError

SHOPS = {"demo": {"webhook_secret": "s"}}


def test_env_secret_overrides_file_and_previous_is_kept() -> None:
    doc = {"shops": {"my-shop": {"webhook_secret": "file", "previous_webhook_secret": "old"}}}
    config = load_intake_config(doc, env={"SHOP_MY_SHOP_WEBHOOK_SECRET": "env"})
    assert config.shops["my-shop"].webhook_secrets == (b"env", b"old")
    assert config.paid_statuses == {"processing", "completed"}


def test_missing_secret_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="SHOP_DEMO_WEBHOOK_SECRET"):
        load_intake_config({"shops": {"demo": {}}}, env={})


def test_no_shop_and_overlapping_statuses_are_refused() -> None:
    with pytest.raises(SettingsError, match=r"\[shops.<id>\]"):
        load_intake_config({}, env={})
    doc = {"shops": SHOPS, "statuses": {"held": ["processing"]}}
    with pytest.raises(SettingsError, match="both paid and held"):
        load_intake_config(doc, env={})


def test_malformed_body_limit_is_named() -> None:
    with pytest.raises(SettingsError, match="INTAKE_MAX_BODY_BYTES"):
        load_intake_config({"shops": SHOPS}, env={"INTAKE_MAX_BODY_BYTES": "1MB"})
    with pytest.raises(SettingsError, match=r"\[intake\].max_body_bytes: expected int >= 1024"):
        load_intake_config({"shops": SHOPS, "intake": {"max_body_bytes": 10}}, env={})


def test_statuses_are_defined_once_under_statuses() -> None:
    doc = {"shops": SHOPS, "statuses": {"paid": ["processing", "shipped"]}}
    config = load_intake_config(doc, env={})
    assert config.paid_statuses == {"processing", "shipped"}
    assert "shipped" in config.known_statuses  # a status named anywhere exists
    doc = {"shops": SHOPS, "statuses": {"custom": ["klar-til-sending"]}}
    assert "klar-til-sending" in load_intake_config(doc, env={}).known_statuses
    moved = {"shops": SHOPS, "order_mapper": {"paid_statuses": ["processing"]}}
    with pytest.raises(SettingsError, match=r"\[order_mapper\].paid_statuses has moved"):
        load_intake_config(moved, env={})


def test_an_unknown_key_is_named() -> None:
    with pytest.raises(SettingsError, match=r"\[intake\]: object contains unknown field colour"):
        load_intake_config({"shops": SHOPS, "intake": {"colour": "blue"}}, env={})
