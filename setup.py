"""Build hook: ship the repository's ``seeds/`` and ``models/`` inside the wheel.

The catalogues and the trained model zoo live at the top of the repository so that
they are easy to read and review; an installed ``nii`` finds them as ``nii/_seeds``
and ``nii/_models`` (see ``nii/resources.py``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = {"seeds": "_seeds", "models": "_models"}


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        for source, target in BUNDLED.items():
            src = ROOT / source
            if not src.is_dir():
                continue
            dst = Path(self.build_lib) / "nii" / target
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithData})
