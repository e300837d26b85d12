"""The alert rules only name metrics the services really expose."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_metric_an_alert_names_is_defined_by_a_service() -> None:
    rules = (ROOT / "deploy/prometheus/alerts.yml").read_text()
    named = set(re.findall(r"\b(ordreflyt_[a-z_]+)\b", rules))
    assert named
    sources = "\n".join(
        p.read_text() for p in ROOT.glob("*/*/src/**/*.py") if "sandbox" not in str(p)
    )
    missing = {name for name in named if f'"{name}"' not in sources}
    assert not missing, f"alerts name metrics no service defines: {sorted(missing)}"
