"""Conventions every ``nii`` subcommand follows, in one place.

- **Outputs**: ``-o``/``--output`` always names a *file*, ``--out`` always a *folder*
  (:func:`check_output_file`).
- **Progress**: bars only when stderr is a terminal (a log file never gets carriage-return
  frames); ``--no-progress`` turns them off; ``-q``/``--quiet`` turns off the bars and
  the messages on stdout (errors still go to stderr, the exit status still tells).
- **JSON**: ``--json`` prints the command's result as one JSON object on stdout; the
  human summary then goes to stderr (or nowhere with ``--quiet``).
- **Counts** in messages agree with their noun (:func:`plural`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "add_progress_arguments",
    "add_json_argument",
    "show_progress",
    "progress_bar",
    "say",
    "print_json",
    "json_safe",
    "plural",
    "check_output_file",
]


def add_progress_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--no-progress`` (dest ``progress``) and ``-q``/``--quiet`` to a long-running subcommand."""
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar (bars are drawn only when stderr is a terminal)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar and no messages on stdout (errors still go to stderr)")


def add_json_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--json``: print ``what`` as one JSON object on stdout, the human summary on stderr."""
    parser.add_argument("--json", action="store_true",
                        help=f"print {what} as one JSON object on stdout (the human summary goes to stderr)")


def show_progress(args: argparse.Namespace) -> bool:
    """Whether to draw progress bars: asked for (not ``--no-progress``/``--quiet``) and stderr is a terminal."""
    if not getattr(args, "progress", True) or getattr(args, "quiet", False):
        return False
    return sys.stderr.isatty()


def progress_bar(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "scan", enabled: bool = True) -> Any:
    """Return a tqdm bar on stderr, disabled unless ``enabled`` and stderr is a terminal."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                disable=not (enabled and sys.stderr.isatty()), leave=False)


def say(args: argparse.Namespace, text: str) -> None:
    """Print a human message: on stdout, on stderr under ``--json``, nowhere under ``--quiet``."""
    if getattr(args, "quiet", False):
        return
    print(text, file=sys.stderr if getattr(args, "json", False) else sys.stdout)


def json_safe(value: Any) -> Any:
    """Replace non-finite floats by None (strict JSON) and paths by strings, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return json_safe(value.item())
    return value


def print_json(document: Any) -> None:
    """Print ``document`` as one line of strict JSON on stdout."""
    print(json.dumps(json_safe(document), ensure_ascii=False))


def plural(count: int, word: str, many: str | None = None) -> str:
    """Return ``"1 scan"``, ``"2 scans"`` (or ``many`` for an irregular plural)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def check_output_file(path: str, option: str = "-o") -> Path:
    """Return ``path`` as the file an ``-o`` option names; refuse an existing folder.

    Raises
    ------
    NiiError
        If ``path`` is an existing folder (``-o`` names a file; folders are ``--out``).
    """
    from nii.errors import NiiError

    target = Path(path)
    if target.is_dir():
        raise NiiError(f"{target}: {option} names a file and this is a folder (folders are given with --out)")
    return target
