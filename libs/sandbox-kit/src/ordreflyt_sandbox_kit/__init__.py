"""Pieces every sandbox emulator shares: fault injection, the `/_sandbox` control routes and a runner.

The emulators stand in for outside systems (WooCommerce, Fortnox) in tests and demos. Tests steer
them over HTTP: read their state, reset it, and inject faults (error statuses, latency, hangs).
"""

from ordreflyt_sandbox_kit.faults import FaultRule, Faults, faults_key
from ordreflyt_sandbox_kit.runner import run_emulator

__all__ = ["FaultRule", "Faults", "faults_key", "run_emulator"]
