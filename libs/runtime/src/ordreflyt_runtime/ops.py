"""Operator commands: talk to a running service's operator routes with OPERATOR_TOKEN.

    ordreflyt-ops dlq list SERVICE                    what is in SERVICE's DLQ, and why
    ordreflyt-ops dlq replay SERVICE --event-id ID    put one message back on SERVICE's queue
    ordreflyt-ops dlq replay SERVICE --reason REASON  every message of that reason
    ordreflyt-ops dlq replay SERVICE --all            everything in the DLQ

SERVICE is intake, order-mapper, erp-writer, fulfillment-listener or stock-syncer; it is
reached at <SERVICE>_URL (e.g. ERP_WRITER_URL), default http://localhost:<its port>.
Exit codes: 0 done, 1 the service refused or could not be reached, 2 wrong usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_PORTS = {
    "intake": 8000,
    "order-mapper": 8001,
    "erp-writer": 8002,
    "fulfillment-listener": 8003,
    "stock-syncer": 8004,
}


class CommandFailed(Exception):
    """The service could not be reached or refused; the message says what to do."""


def service_url(service: str) -> str:
    env = service.upper().replace("-", "_") + "_URL"
    default = f"http://localhost:{DEFAULT_PORTS.get(service, 8000)}"
    return os.environ.get(env, default).rstrip("/")


def call(
    service: str, method: str, path: str, body: Any = None, timeout: float = 60.0
) -> tuple[int, Any]:
    """(status, JSON answer) of an operator route; 4xx answers are returned, not raised."""
    base = service_url(service)
    headers = {"Accept": "application/json"}
    token = os.environ.get("OPERATOR_TOKEN", "").strip()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _json(response.read())
    except urllib.error.HTTPError as exc:
        answer = _json(exc.read())
        if exc.code == 401:
            raise CommandFailed(
                f"{service} refused the operator token: {_error(answer)}"
                " (set OPERATOR_TOKEN to the token the service was started with)"
            ) from None
        if exc.code >= 500:
            raise CommandFailed(f"{service} failed: {_error(answer)}") from None
        return exc.code, answer
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        env = service.upper().replace("-", "_") + "_URL"
        raise CommandFailed(f"cannot reach {service} at {base} ({env}): {reason}") from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return {"error": raw.decode("utf-8", "replace")[:500]}


def _error(answer: Any) -> str:
    if isinstance(answer, dict) and "error" in answer:
        return str(answer["error"])
    return json.dumps(answer)


def run(main: Any) -> None:
    """Run a command's main; a CommandFailed is printed as one line and exits 1."""
    try:
        main()
    except CommandFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


def _dlq_list(service: str) -> None:
    status, answer = call(service, "GET", "/dlq")
    if status != 200:
        raise CommandFailed(_error(answer))
    if not answer["count"]:
        print(f"{answer['queue']}: empty")
        return
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(answer["reasons"].items()))
    print(f"{answer['queue']}: {answer['count']} message(s): {reasons}")
    for m in answer["messages"]:
        order = f"{m.get('shop_id') or '?'}/{m.get('shop_order_id') or '?'}"
        print(f"  {m['event_id']}  {m['routing_key']}  order {order}  {m['reason']}")
        if m.get("error"):
            print(f"      {m['error'].splitlines()[0]}")


def _dlq_replay(service: str, args: argparse.Namespace) -> None:
    if args.event_id:
        query = {"event_id": args.event_id}
    elif args.reason:
        query = {"reason": args.reason}
    else:
        query = {"all": "true"}
    status, answer = call(service, "POST", "/dlq/replay?" + urllib.parse.urlencode(query))
    if status != 200:
        raise CommandFailed(_error(answer))
    print(f"replayed {answer['replayed']} message(s) from {answer['queue']}")
    for m in answer["messages"]:
        print(f"  {m['event_id']}  {m['routing_key']}  ({m['reason']})")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ordreflyt-ops", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dlq = commands.add_parser("dlq", help="a service's dead-letter queue")
    actions = dlq.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="list what is in the DLQ and why")
    listing.add_argument("service", choices=sorted(DEFAULT_PORTS))
    replay = actions.add_parser("replay", help="put messages back on the service's queue")
    replay.add_argument("service", choices=sorted(DEFAULT_PORTS))
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--event-id", help="one message, by its event id")
    which.add_argument("--reason", help="every message of this reason (see `dlq list`)")
    which.add_argument("--all", action="store_true", help="everything in the DLQ")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)

    def command() -> None:
        if args.action == "list":
            _dlq_list(args.service)
        else:
            _dlq_replay(args.service, args)

    run(command)


if __name__ == "__main__":
    main()
