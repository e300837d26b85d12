"""What a local run keeps between runs: the sandboxes' state files and Ordreflyt's database.

The two sides must go together. Sandboxes that start empty hand out order ids and document
numbers that Ordreflyt's database already knows, and it takes the new orders for old ones that
changed after transfer; they never reach the sandbox Fortnox. So `up.sh` asks `describe` what
it will continue from, and `down.sh --clean` asks `clean` to remove both.

    python deploy/local/local_state.py describe SHOP_STATE_FILE FORTNOX_STATE_FILE
    python deploy/local/local_state.py clean SHOP_STATE_FILE FORTNOX_STATE_FILE

The database is the one DATABASE_URL names (default postgresql://postgres@localhost:5432/ordreflyt).
Run with the project's own Python (.venv/bin/python): it reads the files with the sandboxes' code.
`describe` exits 1 when a state file cannot be used, so nothing starts over it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ordreflyt_sandbox_fortnox import saved as fortnox_saved
from ordreflyt_sandbox_kit.statefile import StateFileError, read_document
from ordreflyt_sandbox_woocommerce import saved as shop_saved

DEFAULT_DATABASE_URL = "postgresql://postgres@localhost:5432/ordreflyt"
CLEAN = "deploy/local/down.sh --clean"
# Databases a mistaken DATABASE_URL could name: never dropped.
PROTECTED = frozenset({"postgres", "template0", "template1"})


def _shop(summary: dict[str, Any]) -> str:
    return f"{summary.get('orders')} orders, next id {summary.get('next_id')}"


def _fortnox(summary: dict[str, Any]) -> str:
    return (
        f"{summary.get('orders')} orders, {summary.get('invoices')} invoices, "
        f"next order {summary.get('next_order')}"
    )


SANDBOXES = (
    ("sandbox shop", shop_saved.KIND, shop_saved.VERSION, _shop),
    ("sandbox Fortnox", fortnox_saved.KIND, fortnox_saved.VERSION, _fortnox),
)


def _database() -> tuple[str, str, str]:
    """The database's name, a URL of the server's `postgres` database, and where (for people)."""
    parts = urlsplit(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    return name, admin, f"{name} at {parts.hostname or 'localhost'}:{parts.port or 5432}"


async def _database_exists() -> bool | None:
    """Whether Ordreflyt's database exists; None when the server cannot be asked."""
    name, admin, _ = _database()
    try:
        connection = await asyncpg.connect(admin, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        return bool(await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await connection.close()


def describe(files: list[Path]) -> int:
    continuing = []
    for (label, kind, version, counts), path in zip(SANDBOXES, files, strict=True):
        try:
            document = read_document(path, kind, version)
        except StateFileError as exc:
            print(f"  {label}: {exc}", file=sys.stderr)
            print(
                f"  To start clean (sandboxes and Ordreflyt's database): {CLEAN}", file=sys.stderr
            )
            return 1
        if document is None:
            print(f"  {label}: fresh (no {path} yet)")
        else:
            continuing.append(label)
            saved = f"saved {document.get('saved_at')}"
            if document.get("stopped_cleanly") is not True:
                saved += ", not at a clean stop: ids skip ahead"
            print(
                f"  {label}: continuing from {path} ({counts(document.get('summary') or {})}; {saved})"
            )
    _, _, where = _database()
    exists = asyncio.run(_database_exists())
    if exists is None:
        print(f"  Ordreflyt: cannot reach PostgreSQL to look for database {where}")
    else:
        print(f"  Ordreflyt: database {where} {'exists' if exists else 'is new'}")
    fresh = [label for label, *_ in SANDBOXES if label not in continuing]
    starts = "starts" if len(fresh) == 1 else "start"
    if exists and fresh:
        print(
            f"  WARNING: {' and '.join(fresh)} {starts} empty while Ordreflyt's database "
            f"{where} remembers an earlier run: order ids and document numbers will be used "
            f"again, and those orders will not reach the sandbox Fortnox. Start both sides "
            f"clean with {CLEAN}",
            file=sys.stderr,
        )
    elif continuing and (fresh or exists is False):
        print(
            "  note: not everything continues the earlier run "
            f"({', '.join(fresh + (['Ordreflyt'] if exists is False else []))} start anew); "
            f"to start all clean: {CLEAN}"
        )
    else:
        print(f"  To start both sides clean: {CLEAN}")
    return 0


async def _drop_database() -> str:
    name, admin, where = _database()
    connection = await asyncpg.connect(admin, timeout=10)
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        # FORCE: a connection left open (a psql session, a service that did not stop) ends.
        await connection.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
    finally:
        await connection.close()
    return where


def clean(files: list[Path]) -> int:
    name = _database()[0]
    if not name or name in PROTECTED:
        print(f"DATABASE_URL names the database {name!r}: not dropping that one", file=sys.stderr)
        return 1
    for path in files:
        for each in (path, path.with_name(path.name + ".tmp")):
            if each.exists():
                each.unlink()
                print(f"removed {each}")
        if path.parent.is_dir() and not any(path.parent.iterdir()):
            path.parent.rmdir()
    try:
        where = asyncio.run(_drop_database())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"could not drop Ordreflyt's database {_database()[2]}: {exc}", file=sys.stderr)
        return 1
    print(f"dropped Ordreflyt's database {where} (if it was there)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["describe", "clean"])
    parser.add_argument("shop_state_file", type=Path)
    parser.add_argument("fortnox_state_file", type=Path)
    args = parser.parse_args()
    files = [args.shop_state_file, args.fortnox_state_file]
    return describe(files) if args.command == "describe" else clean(files)


if __name__ == "__main__":
    sys.exit(main())
