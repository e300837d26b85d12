"""`ordreflyt-fulfillment-listener`: run the fulfillment-listener service."""

from ordreflyt_fulfillment_listener.app import SPEC
from ordreflyt_runtime.service import run_service


def main() -> None:
    run_service(SPEC)


if __name__ == "__main__":
    main()
