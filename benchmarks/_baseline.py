"""Another git revision's code, exported for a benchmark to time side by side."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def revision_tree(revision: str, paths: tuple[str, ...] = ("nii", "scanner_io", "seeds", "models")) -> Iterator[str | None]:
    """Export ``paths`` of ``revision`` (``git archive``) to a temporary folder.

    Yields the folder, to put on ``PYTHONPATH`` of a child process, or None (with a
    printed line saying why) when the revision cannot be exported.
    """
    with tempfile.TemporaryDirectory(prefix="nii-baseline-") as tree:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, *paths], capture_output=True, check=False)
        if archive.returncode != 0:
            print(f"  baseline {revision}: git archive failed ({archive.stderr.decode(errors='replace').strip()})")
            yield None
            return
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        yield tree
