"""What every stage script shares: `--help`, log format, and turning known errors into a message."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from src.core.errors import DataError, ModelError, ParamsError
from src.core.hub import go_offline_if_unreachable

EXPECTED_ERRORS = (ParamsError, DataError, ModelError)


def run_stage(stage: Callable[[], None], doc: str | None, argv: list[str] | None = None) -> None:
    """Parse the (flag-free) command line, run `stage`, and exit 1 with a one-line error on bad input."""
    run_command(lambda _args: stage(), command_parser(doc), argv)


def command_parser(doc: str | None) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def run_command(command: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser, argv=None) -> None:
    """Parse the command line with `parser`, run `command(args)`, exit 1 with a one-line error on bad input."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("httpx", "urllib3", "datasets", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    go_offline_if_unreachable()
    try:
        command(args)
    except EXPECTED_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
