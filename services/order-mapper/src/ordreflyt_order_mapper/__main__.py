"""`ordreflyt-order-mapper`: run the service, or look at and release held orders.

    ordreflyt-order-mapper                      run the service
    ordreflyt-order-mapper holds                list held orders and why
    ordreflyt-order-mapper release SHOP ORDER   map a held order again and send it
    ordreflyt-order-mapper changed              list orders changed after transfer

The commands talk to a running order-mapper at ORDER_MAPPER_URL (default http://localhost:8001)
with OPERATOR_TOKEN. Exit codes: 0 done (release: the order was sent), 3 the released order is
still held (the reasons are printed), 1 the command could not be carried out, 2 wrong usage.
"""

from __future__ import annotations

import sys

from ordreflyt_order_mapper.app import SPEC
from ordreflyt_runtime.ops import CommandFailed, call, run
from ordreflyt_runtime.service import run_service

STILL_HELD = 3


def _holds() -> None:
    _, body = call("order-mapper", "GET", "/holds")
    for hold in body["holds"]:
        print(
            f"{hold['shop_id']}/{hold['order_id']} (#{hold['order_number']}, {hold['status']})"
            f" held since {hold['held_at']}"
        )
        for reason in hold["reasons"]:
            print(f"    - {reason}")
    if not body["holds"]:
        print("no held orders")


def _changed() -> None:
    _, body = call("order-mapper", "GET", "/changed")
    for item in body["changed"]:
        print(f"{item['shop_id']}/{item['order_id']} (#{item['order_number']}): {item['note']}")
    if not body["changed"]:
        print("no orders changed after transfer")


def _release(shop: str, order: str) -> None:
    status, body = call("order-mapper", "POST", f"/holds/{shop}/{order}/release")
    if status == 200:
        print(f"order {shop}/{order} released and sent to the ERP")
        return
    if status == 409 and body.get("status") == "held":
        print(f"order {shop}/{order} is still held:")
        for reason in body["reasons"]:
            print(f"    - {reason}")
        sys.exit(STILL_HELD)
    raise CommandFailed(str(body.get("error", body)))


def main() -> None:
    args = sys.argv[1:]
    if not args:
        run_service(SPEC)
    elif args == ["holds"]:
        run(_holds)
    elif args == ["changed"]:
        run(_changed)
    elif len(args) == 3 and args[0] == "release":
        run(lambda: _release(args[1], args[2]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
