"""Atomic output writes: nothing a user gave is overwritten half-way.

Every output file is written to a temporary file in the destination folder, flushed
to disk and moved into place with :func:`os.replace`, so a reader never sees a
partial file and a crash leaves the previous version intact. The implementation
lives upstream in :mod:`scanner_io` (which writes DICOS the same way); this module is
the library's name for it.
"""

from __future__ import annotations

from scanner_io._atomic import atomic_path, atomic_write_bytes, atomic_write_text, atomic_writer

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "atomic_writer"]
