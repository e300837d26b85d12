"""How the services want their ERP read: options every ERP implementation honours."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErpOptions:
    # Watching: each listing starts this many minutes before the watermark.
    overlap_minutes: int = 2
    # Seconds of clock difference tolerated between Ordreflyt and the ERP.
    clock_skew: float = 30.0
    # Read a listed document on every change of its version, not only when what its listing
    # shows changed (for an ERP account where deliveries show in rows only).
    read_every_change: bool = False
    # Articles: single reads for weights (when the list leaves them out), at most this many a
    # pass, changed ones first.
    detail_reads_per_pass: int = 25
    # Articles: the whole register is read this often (seconds); in between only changes.
    full_refresh: float = 3600.0
