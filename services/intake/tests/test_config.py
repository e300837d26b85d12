"""Intake's config: shops, secrets (env overrides the file), statuses, body limit."""

from __future__ import annotations

import pytest

from ordreflyt_intake.config import load_intake_config
from ordreflyt_runtime.settings import SettingsError


def test_env_secret_overrides_file_and_previous_is_kept() -> None:
    doc = {"shops": {"my-shop": {"webhook_secret": "file", "previous_webhook_secret": "old"}}}
    config = load_intake_config(doc, env={"SHOP_MY_SHOP_WEBHOOK_SECRET": "env"})
    assert config.shops["my-shop"].secrets == (b"env", b"old")
    assert config.paid_statuses == {"processing", "completed"}


def test_missing_secret_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="SHOP_DEMO_WEBHOOK_SECRET"):
        load_intake_config({"shops": {"demo": {}}}, env={})


def test_no_shop_and_overlapping_statuses_are_refused() -> None:
    with pytest.raises(SettingsError, match=r"\[shops.<id>\]"):
        load_intake_config({}, env={})
    doc = {"shops": {"demo": {"webhook_secret": "s"}}, "intake": {"held_statuses": ["processing"]}}
    with pytest.raises(SettingsError, match="both paid and held"):
        load_intake_config(doc, env={})


def test_malformed_body_limit_is_named() -> None:
    with pytest.raises(SettingsError, match="INTAKE_MAX_BODY_BYTES"):
        load_intake_config(
            {"shops": {"demo": {"webhook_secret": "s"}}}, env={"INTAKE_MAX_BODY_BYTES": "1MB"}
        )


def test_paid_statuses_come_from_the_order_mapper_rules_unless_intake_overrides() -> None:
    shops = {"demo": {"webhook_secret": "s"}}
    doc = {"shops": shops, "order_mapper": {"paid_statuses": ["processing", "shipped"]}}
    assert load_intake_config(doc, env={}).paid_statuses == {"processing", "shipped"}
    doc["intake"] = {"paid_statuses": ["completed"]}
    assert load_intake_config(doc, env={}).paid_statuses == {"completed"}
