"""What every stage script shares: `--help`, log format, and turning known errors into a message."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from src.errors import DataError, ModelError, ParamsError

EXPECTED_ERRORS = (ParamsError, DataError, ModelError)


def run_stage(stage: Callable[[], None], doc: str | None, argv: list[str] | None = None) -> None:
    """Parse the (flag-free) command line, run `stage`, and exit 1 with a one-line error on bad input."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("httpx", "urllib3", "datasets", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        stage()
    except EXPECTED_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
