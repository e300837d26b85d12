"""`ordreflyt-order-mapper`: run the service, or look at and release held orders.

    ordreflyt-order-mapper                      run the service
    ordreflyt-order-mapper holds                list held orders and why
    ordreflyt-order-mapper release SHOP ORDER   map a held order again and send it
    ordreflyt-order-mapper changed              list orders changed after transfer

The commands talk to a running order-mapper at ORDER_MAPPER_URL (default http://localhost:8001).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from ordreflyt_order_mapper.app import SPEC
from ordreflyt_runtime.service import run_service


def _call(method: str, path: str) -> tuple[int, Any]:
    base = os.environ.get("ORDER_MAPPER_URL", "http://localhost:8001").rstrip("/")
    request = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)
    except urllib.error.URLError as exc:
        sys.exit(f"cannot reach order-mapper at {base} (ORDER_MAPPER_URL): {exc.reason}")


def main() -> None:
    args = sys.argv[1:]
    if not args:
        run_service(SPEC)
        return
    if args == ["holds"]:
        _, body = _call("GET", "/holds")
        for hold in body["holds"]:
            print(
                f"{hold['shop_id']}/{hold['order_id']} (#{hold['order_number']}, {hold['status']}) held since {hold['held_at']}"
            )
            for reason in hold["reasons"]:
                print(f"    - {reason}")
        if not body["holds"]:
            print("no held orders")
    elif args == ["changed"]:
        _, body = _call("GET", "/changed")
        for item in body["changed"]:
            print(f"{item['shop_id']}/{item['order_id']} (#{item['order_number']}): {item['note']}")
        if not body["changed"]:
            print("no orders changed after transfer")
    elif len(args) == 3 and args[0] == "release":
        status, body = _call("POST", f"/holds/{args[1]}/{args[2]}/release")
        print(json.dumps(body, ensure_ascii=False))
        sys.exit(0 if status == 200 else 1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
