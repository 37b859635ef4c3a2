"""The ``nii`` command line: a thin shell over the library.

Each subcommand lives in its own module ``nii/cli/<name>.py`` exposing
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``func(args) -> int`` (the exit status). Heavy imports happen inside ``func``.

Every error ends the command with one sentence on stderr and exit status 2: errors
raised on purpose by the library (:class:`nii.errors.NiiError`,
:class:`scanner_io.ScannerIOError`) and OS errors as ``nii CMD: error: ...``; anything
else (a bug, or an input no check foresaw: ``OverflowError``, ``MemoryError``...) as
``nii CMD: internal error while ...; rerun with --debug for the traceback``.
``--debug``, accepted anywhere on the command line, prints the traceback too and
still exits 2. Ctrl-C exits 130 without a traceback. The statuses of every command are
listed in ``docs/exit-codes.md``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from nii import __version__

__all__ = [
    "main", "build_parser", "add_backend_arguments", "EXIT_CLEAR", "EXIT_INSPECT", "EXIT_ERROR", "EXIT_INTERRUPTED",
]

EXIT_CLEAR = 0
EXIT_INSPECT = 1
EXIT_ERROR = 2
#: Ctrl-C (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130
#: Longest error sentence printed (characters).
_MAX_MESSAGE = 600

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
    "export",
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
        "--debug", action="store_true",
        help="show full tracebacks on errors (accepted anywhere on the command line; the exit status stays 2)",
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


def _take_debug(argv: Sequence[str]) -> tuple[list[str], bool]:
    """Remove ``--debug`` from anywhere in ``argv`` (up to a ``--``); return the rest and whether it was there."""
    rest: list[str] = []
    debug = False
    for position, token in enumerate(argv):
        if token == "--":
            rest.extend(argv[position:])
            break
        if token == "--debug":
            debug = True
        else:
            rest.append(token)
    return rest, debug


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (also used as the script's).

    0 and 1 are the command's answer (``inspect``: clear, inspect), 2 an error (one
    sentence on stderr), 130 an interruption; see ``docs/exit-codes.md``.
    """
    arguments, debug = _take_debug(list(sys.argv[1:] if argv is None else argv))
    args: Any = None
    try:
        parser = build_parser()
        args = parser.parse_args(arguments)
        args.debug = debug or bool(getattr(args, "debug", False))
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_ERROR
        return int(args.func(args))
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print("nii: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError as exc:
        # Often stdout closed by its reader (``nii info SCAN | head``): say so once, and
        # let the interpreter's last flush of stdout fail silently.
        _silence_stdout()
        return _report(exc, args, debug)
    except Exception as exc:  # noqa: BLE001 - every error path is one sentence and exit 2
        return _report(exc, args, debug)


def _report(exc: Exception, args: Any, debug: bool) -> int:
    command = getattr(args, "command", None)
    prefix = f"nii {command}" if command else "nii"
    if debug:
        traceback.print_exc()
    if isinstance(exc, _error_types()):
        print(f"{prefix}: error: {_one_line(exc)}", file=sys.stderr)
    else:
        hint = "" if debug else "; rerun with --debug for the traceback"
        print(f"{prefix}: internal error while {_activity(args)}: {_one_line(exc, internal=True)}{hint}", file=sys.stderr)
    return EXIT_ERROR


def _activity(args: Any) -> str:
    """What the command was doing, for an internal error: ``inspecting SCAN.nxr``."""
    command = getattr(args, "command", None)
    if command is None:
        return "reading the command line"
    target = getattr(args, "scan", None)
    if target is None:
        for name in ("scans", "input", "inputs", "wedges", "wedge"):
            target = getattr(args, name, None)
            if target:
                break
    if isinstance(target, (list, tuple)):
        shown = ", ".join(map(str, target[:2])) + (f" and {len(target) - 2} more" if len(target) > 2 else "")
    else:
        shown = "" if target is None else str(target)
    if command == "inspect" and shown:
        return f"inspecting {shown}"
    return f"running nii {command}" + (f" on {shown}" if shown else "")


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # pragma: no cover - stdout without a file descriptor
        pass


def _one_line(exc: BaseException, *, internal: bool = False) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror or exc}"
    elif isinstance(exc, MemoryError):
        text = f"out of memory{': ' + str(exc) if str(exc) else ''}"
    else:
        text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    if internal and not isinstance(exc, MemoryError):
        text = f"{type(exc).__name__}: {text}".rstrip(".")
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    return text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
