"""Pieces every sandbox emulator shares: fault injection, the `/_sandbox` control routes, a runner
that logs JSON lines (`logs`), the product catalogue, and `testing.EmulatorProcess` for tests
that need the emulator as a real process.

The emulators stand in for outside systems (WooCommerce, Fortnox) in tests and demos. Tests steer
them over HTTP: read their state, reset it, and inject faults (error statuses, latency, hangs).
Those control routes answer only this machine unless opened (`control`).
Both build their products from `catalogue.nordic_catalogue(size, seed)`, so a shop and an ERP
started with the same size and seed sell and stock the same SKUs.
"""

from ordreflyt_sandbox_kit.catalogue import Catalogue, nordic_catalogue
from ordreflyt_sandbox_kit.control import OPEN_CONTROL_ENV, OPEN_CONTROL_FLAG, control_guard
from ordreflyt_sandbox_kit.faults import FaultRule, Faults, faults_key
from ordreflyt_sandbox_kit.runner import run_emulator

__all__ = [
    "OPEN_CONTROL_ENV",
    "OPEN_CONTROL_FLAG",
    "Catalogue",
    "FaultRule",
    "Faults",
    "control_guard",
    "faults_key",
    "nordic_catalogue",
    "run_emulator",
]
