"""`ordreflyt-stock-syncer`: run the stock-syncer service."""

from ordreflyt_runtime.service import run_service
from ordreflyt_stock_syncer.app import SPEC


def main() -> None:
    run_service(SPEC)


if __name__ == "__main__":
    main()
