"""Atomic file writes: nothing a user gave is overwritten half-way.

Every output file is written to a temporary file in the destination folder, flushed
to disk and moved into place with :func:`os.replace`, so a reader never sees a
partial file and a crash leaves the previous version intact.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "atomic_writer"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it into place atomically.

    For writers that open the file themselves (e.g. a streaming NXR writer). Whatever
    they wrote is flushed to disk before the move; on any error the temporary file is
    removed and ``path`` is left as it was.

    Parameters
    ----------
    path : path-like
        Destination file. Its folder is created if missing.

    Yields
    ------
    pathlib.Path
        The temporary file (created empty, with the permissions a plain ``open()`` gives).
    """
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        # mkstemp creates the file 0600; give it the permissions a plain open() would.
        os.chmod(temporary, 0o666 & ~_current_umask())
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, destination)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def atomic_writer(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(fileobj)`` on a temporary file and move it atomically to ``path``.

    Parameters
    ----------
    path : path-like
        Destination file. Its folder is created if missing.
    write : callable
        Receives a binary file object open for writing.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        write(stream)
        stream.flush()
    return Path(path)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    return atomic_writer(path, lambda stream: stream.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))
