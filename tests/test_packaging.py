"""``python -m build`` gives a wheel and an sdist that each install and run ``nii demo``.

The repository keeps ``seeds/`` and ``models/`` at its top; the sdist must carry them
(MANIFEST.in) and the wheel must hold them as ``nii/_seeds`` and ``nii/_models``
(setup.py's build hook), since an installed ``nii`` finds them there. This builds both
from a copy of the project, installs each into a fresh virtual environment and runs
``nii demo --out demo`` from an empty folder with nothing of the source tree in sight.

To stay fast and offline, the build does not make its own isolated environment
(``--no-isolation``: the running one has ``build`` and ``setuptools`` from the ``dev``
extra), and the fresh environments see the running one's site-packages through a
``.pth`` file (``--no-deps``: the dependencies are not installed again). That file
lists the folders as plain paths, so the running environment's own ``.pth`` hooks (an
editable install of ``nii`` among them) are not loaded: the only ``nii`` there is the
one just installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
#: What a build reads: the packaging files, the packages and the data they ship.
PROJECT_ENTRIES = ("pyproject.toml", "setup.py", "MANIFEST.in", "LICENSE", "README.md",
                   "nii", "scanner_io", "seeds", "models", "docs")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "_seeds", "_models")


def _skip_unless_build_tools() -> None:
    if importlib.util.find_spec("build") is None:
        pytest.skip("the 'build' package is not installed (pip install 'nii[dev]')")
    import setuptools

    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} is older than the 77 the build needs")


def _run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} exited {result.returncode}\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )
    return result.stdout


def _clean_env() -> dict[str, str]:
    """The environment without anything that would point back at the source tree."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "NII_SEEDS", "NII_MODELS", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _site_folders() -> list[str]:
    """The running environment's site-packages folders (dependencies for the fresh venvs)."""
    paths = sysconfig.get_paths()
    folders = [paths["purelib"], paths["platlib"]]
    folders += [entry for entry in sys.path if entry.endswith(("site-packages", "dist-packages"))]
    return [folder for folder in dict.fromkeys(folders) if Path(folder).is_dir()]


def _fresh_venv(where: Path) -> Path:
    """A new venv that sees the running environment's packages; return its python."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(where)], cwd=where.parent, env=_clean_env())
    python = where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   cwd=where, env=_clean_env()).strip()
    Path(purelib, "zz_running_env.pth").write_text("\n".join(_site_folders()) + "\n", encoding="utf-8")
    return python


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """``python -m build`` of a copy of the project: {"sdist": ..., "wheel": ...}."""
    _skip_unless_build_tools()
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    source.mkdir()
    for entry in PROJECT_ENTRIES:
        path = ROOT / entry
        if path.is_dir():
            shutil.copytree(path, source / entry, ignore=_IGNORED)
        elif path.is_file():
            shutil.copy2(path, source / entry)
    out = work / "dist"
    log = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
               cwd=work, env=_clean_env())
    assert "SetuptoolsDeprecationWarning" not in log
    (sdist,) = out.glob("nii-*.tar.gz")
    (wheel,) = out.glob("nii-*.whl")
    return {"sdist": sdist, "wheel": wheel}


def test_sdist_carries_the_data_and_the_licence(dist):
    with tarfile.open(dist["sdist"]) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for required in ("LICENSE", "MANIFEST.in", "setup.py", "seeds/threats.toml", "seeds/suites/smoke.toml",
                     "models/unet_segmenter/config.json", "models/unet_segmenter/weights.safetensors",
                     "nii/schemas/verdict.schema.json"):
        assert required in names, f"the sdist lacks {required}"


def test_wheel_holds_the_data_as_package_data(dist):
    with zipfile.ZipFile(dist["wheel"]) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    for required in ("nii/_seeds/threats.toml", "nii/_seeds/materials.toml", "nii/_seeds/suites/smoke.toml",
                     "nii/_models/unet_segmenter/weights.safetensors", "nii/_models/fcos_detector/config.json",
                     "nii/schemas/verdict.schema.json", "nii/schemas/manifest.schema.json", "nii/py.typed"):
        assert required in names, f"the wheel lacks {required}"
    assert not any(name.startswith(("seeds/", "models/")) for name in names)  # nothing at the top level
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert "License-Expression: Apache-2.0" in metadata


@pytest.mark.parametrize("artifact", ["wheel", "sdist"])
def test_installed_package_runs_the_demo_from_an_empty_folder(dist, artifact, tmp_path):
    python = _fresh_venv(tmp_path / "venv")
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--ignore-installed",
          "--no-build-isolation", "--disable-pip-version-check", str(dist[artifact])],
         cwd=tmp_path, env=_clean_env())
    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run([str(python), "-c", "import nii, nii.resources as r, nii.schemas as s; "
                  "print(nii.__file__); print(r.seeds_dir()); print(r.models_dir()); print(s.__file__)"],
                 cwd=empty, env=_clean_env()).split()
    site = (tmp_path / "venv").resolve()
    for path in where:
        assert Path(path).resolve().is_relative_to(site), f"{path} is not inside the fresh venv"
    assert Path(where[1]).name == "_seeds" and Path(where[2]).name == "_models"
    script = python.with_name("nii.exe" if os.name == "nt" else "nii")
    output = _run([str(script), "demo", "--out", "demo"], cwd=empty, env=_clean_env())
    assert "wrote" in output
    verdict = json.loads((empty / "demo" / "verdict.json").read_text(encoding="utf-8"))
    assert verdict["verdict"] == "inspect"
    assert (empty / "demo" / "evidence.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
