"""`ordreflyt-erp-writer`: run the erp-writer service."""

from ordreflyt_erp_writer.app import SPEC
from ordreflyt_runtime.service import run_service


def main() -> None:
    run_service(SPEC)


if __name__ == "__main__":
    main()
