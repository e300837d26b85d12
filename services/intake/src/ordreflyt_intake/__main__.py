"""`ordreflyt-intake`: run the intake service."""

from ordreflyt_intake.app import SPEC
from ordreflyt_runtime.service import run_service


def main() -> None:
    run_service(SPEC)


if __name__ == "__main__":
    main()
