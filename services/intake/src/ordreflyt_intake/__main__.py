"""`ordreflyt-intake`: run the intake service, or act on a shop through a running intake.

    ordreflyt-intake                                     run the service
    ordreflyt-intake register-webhooks SHOP [--url URL]  the four order webhooks, fresh secret
    ordreflyt-intake webhooks SHOP                       check (and repair) the order webhooks
    ordreflyt-intake reconcile SHOP                      a reconciliation pass now
    ordreflyt-intake resync SHOP (--since DATE | --from-order N) [--dry-run]
                                                         send the shop's orders again

`resync --dry-run` writes nothing: it lists what would be sent, what is already in the ERP and
what would be held (asking order-mapper and erp-writer). The commands use INTAKE_URL,
ORDER_MAPPER_URL and ERP_WRITER_URL (defaults http://localhost:8000, :8001, :8002) and
OPERATOR_TOKEN. Exit codes: 0 done, 1 refused or unreachable, 2 wrong usage.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ordreflyt_intake.app import SPEC
from ordreflyt_runtime.ops import CommandFailed, call, run
from ordreflyt_runtime.service import run_service


def _ok(status: int, answer: Any) -> Any:
    if status >= 300:
        error = answer.get("error", answer) if isinstance(answer, dict) else answer
        raise CommandFailed(str(error))
    return answer


def register(shop: str, url: str | None) -> None:
    body = {"delivery_url": url} if url else {}
    answer = _ok(*call("intake", "POST", f"/shops/{shop}/webhooks/register", body))
    print(f"order webhooks of {shop} deliver to {answer['delivery_url']} with a fresh secret:")
    for topic, done in answer["webhooks"].items():
        print(f"  {topic:16} webhook {done['webhook_id']} {done['action']}")
    print("The secret is stored in intake (every intake process accepts it); it is not shown.")


def webhooks(shop: str) -> None:
    answer = _ok(*call("intake", "GET", f"/shops/{shop}/webhooks"))
    for topic, state in answer["topics"].items():
        print(f"  {topic:16} {state}")
    if answer.get("error"):
        raise CommandFailed(answer["error"])


def reconcile(shop: str) -> None:
    answer = _ok(*call("intake", "POST", f"/shops/{shop}/reconcile"))
    if answer.get("error"):
        raise CommandFailed(answer["error"])
    print(
        f"{answer['seen']} order states read, {answer['new']} of them new to intake;"
        f" watermark now {answer['watermark']}"
    )
    for refused in answer["refused"]:
        print(f"  refused: {refused}")


def resync(shop: str, since: str | None, from_order: int | None, dry_run: bool) -> None:
    body: dict[str, Any] = {"dry_run": dry_run}
    body.update({"from_order": from_order} if from_order is not None else {"since": since})
    answer = _ok(*call("intake", "POST", f"/shops/{shop}/resync", body, timeout=600))
    orders = answer["orders"]
    if not dry_run:
        print(
            f"{answer['published']} of {len(orders)} orders sent again ({answer['refused']}"
            " refused by intake's checks)"
        )
        return
    groups = classify(shop, orders)
    print(f"dry run: {len(orders)} orders of {shop}; nothing was written")
    for title, entries in groups.items():
        print(f"{title}: {len(entries)}")
        for entry in entries:
            print(f"  {entry}")


def classify(shop: str, orders: list[dict[str, Any]]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {
        "would be sent": [],
        "already in the ERP": [],
        "sent before, not in the ERP yet (see erp-writer /parked)": [],
        "would be held": [],
        "not paid (not sent)": [],
        "refused by intake's checks": [],
    }
    candidates = [o for o in orders if "refused" not in o]
    ids = [o["id"] for o in candidates]
    links = _ok(*call("erp-writer", "POST", f"/links/{shop}/lookup", {"order_ids": ids}))["links"]
    wanted = [{"order": o["order"], "paid": o["paid"]} for o in candidates]
    previews = _ok(*call("order-mapper", "POST", f"/preview/{shop}", {"orders": wanted}))["orders"]
    outcome = {p["id"]: p for p in previews}
    for entry in orders:
        label = f"#{entry['number'] or entry['id']} (id {entry['id']}, {entry['status']})"
        if "refused" in entry:
            groups["refused by intake's checks"].append(f"{label}: {entry['refused']}")
        elif str(entry["id"]) in links:
            link = links[str(entry["id"])]
            groups["already in the ERP"].append(
                f"{label}: {link['document_kind']} {link['document_number']}"
            )
        elif outcome[entry["id"]]["outcome"] == "already-sent":
            groups["sent before, not in the ERP yet (see erp-writer /parked)"].append(label)
        elif outcome[entry["id"]]["outcome"] == "would-hold":
            reasons = "; ".join(outcome[entry["id"]]["reasons"])
            groups["would be held"].append(f"{label}: {reasons}")
        elif outcome[entry["id"]]["outcome"] == "not-paid":
            groups["not paid (not sent)"].append(label)
        else:
            groups["would be sent"].append(label)
    return groups


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ordreflyt-intake", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    reg = commands.add_parser("register-webhooks", help="the four order webhooks, fresh secret")
    reg.add_argument("shop")
    reg.add_argument("--url", help="delivery URL (default: webhook_url of the shop's config)")
    commands.add_parser("webhooks", help="check and repair the order webhooks").add_argument("shop")
    commands.add_parser("reconcile", help="a reconciliation pass now").add_argument("shop")
    res = commands.add_parser("resync", help="send the shop's orders again")
    res.add_argument("shop")
    since = res.add_mutually_exclusive_group(required=True)
    since.add_argument("--since", help="orders changed since this date (2026-11-01 or ISO time)")
    since.add_argument("--from-order", type=int, help="orders from this order id on")
    res.add_argument("--dry-run", action="store_true", help="list what would happen, write nothing")
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        run_service(SPEC)
        return
    args = _parser().parse_args(argv)
    if args.command == "register-webhooks":
        run(lambda: register(args.shop, args.url))
    elif args.command == "webhooks":
        run(lambda: webhooks(args.shop))
    elif args.command == "reconcile":
        run(lambda: reconcile(args.shop))
    else:
        run(lambda: resync(args.shop, args.since, args.from_order, args.dry_run))


if __name__ == "__main__":
    main()
