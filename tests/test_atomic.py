"""Atomic writes (scanner_io._atomic, re-exported by nii.io_utils)."""

from __future__ import annotations

import os

import pytest

from nii.io_utils import atomic_path, atomic_write_text


def test_atomic_path_moves_the_finished_file_into_place(tmp_path):
    target = tmp_path / "out" / "scan.nxr"
    with atomic_path(target) as temporary:
        assert temporary.parent == target.parent and not target.exists()
        temporary.write_bytes(b"NXR")
    assert target.read_bytes() == b"NXR"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["scan.nxr"]


def test_atomic_path_leaves_the_old_file_on_error(tmp_path):
    target = tmp_path / "verdict.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["verdict.json"]
