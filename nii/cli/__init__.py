"""The ``nii`` command line: a thin shell over the library.

Each subcommand lives in its own module ``nii/cli/<name>.py`` exposing
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``func(args) -> int`` (the exit status). Heavy imports happen inside ``func``.

Errors raised on purpose by the library (:class:`nii.errors.NiiError`,
:class:`scanner_io.ScannerIOError`) and OS errors are printed as one line on stderr
and exit with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from nii import __version__

__all__ = ["main", "build_parser", "add_backend_arguments", "EXIT_CLEAR", "EXIT_INSPECT", "EXIT_ERROR"]

EXIT_CLEAR = 0
EXIT_INSPECT = 1
EXIT_ERROR = 2

# Order is the order shown in ``nii --help``.
SUBCOMMANDS = (
    "demo",
    "info",
    "simulate",
    "calibrate",
    "discriminate",
    "render",
    "inspect",
    "review",
    "bench",
)


def add_backend_arguments(parser: argparse.ArgumentParser, *, device: bool = True) -> None:
    """Add ``--backend {numpy,torch}`` (and ``--device``) to a subcommand that analyses scans."""
    parser.add_argument("--backend", choices=("numpy", "torch"), default="numpy",
                        help="array library of correction and discrimination")
    if device:
        parser.add_argument("--device", default=None, help="cpu (default) or cuda (torch backend)")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="nii",
        description="NII: dual-energy X-ray cargo inspection toolkit.",
    )
    parser.add_argument("--version", action="version", version=f"nii {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks on errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module_name = f"nii.cli.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(subparsers)
    return parser


def _error_types() -> tuple[type[BaseException], ...]:
    from nii.errors import NiiError
    from scanner_io import ScannerIOError

    return (NiiError, ScannerIOError, OSError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (also used as the script's)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("nii: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except _error_types() as exc:
        if args.debug:
            raise
        print(f"nii {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror or exc}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
