"""Tests of nii.backend: dispatch, devices, the public surface, torch-free import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import nii.backend as backend_module
from nii.backend import available_backends, get_backend
from nii.errors import NiiError

BACKENDS = available_backends()


def test_public_names():
    assert sorted(backend_module.__all__) == ["ArrayBackend", "BACKENDS", "available_backends", "get_backend"]


def test_unknown_backend_and_device():
    with pytest.raises(NiiError, match="unknown array backend"):
        get_backend("cupy")
    with pytest.raises(NiiError, match="CPU only"):
        get_backend("numpy", "cuda")


@pytest.mark.parametrize("name,device", BACKENDS)
def test_round_trip_and_box_mean(name, device):
    backend = get_backend(name, device)
    values = np.arange(35, dtype=np.float32).reshape(5, 7)
    array = backend.asarray(values)
    assert np.array_equal(backend.to_numpy(array), values)
    assert backend.to_numpy(backend.asarray(np.array([65535], np.uint16)))[0] == 65535
    box = backend.to_numpy(backend.box_mean(array, 1))
    # interior: plain 3 × 3 mean; edges: replicated
    assert box[2, 3] == pytest.approx(values[1:4, 2:5].mean())
    padded = np.pad(values, 1, mode="edge")
    assert box[0, 0] == pytest.approx(padded[0:3, 0:3].mean())
    taken = backend.to_numpy(backend.take(array, backend.asarray(np.array([2, 0]), backend.int_dtype), 1))
    assert np.array_equal(taken, values[:, [2, 0]])
    rows = backend.set_rows(array, np.array([1]), backend.asarray(np.zeros((1, 7), np.float32)))
    assert backend.to_numpy(rows)[1].sum() == 0


@pytest.mark.parametrize("name,device", BACKENDS)
def test_pad_edge_replicates_the_last_row_and_column(name, device):
    backend = get_backend(name, device)
    values = np.arange(15, dtype=np.float32).reshape(3, 5)
    padded = backend.to_numpy(backend.pad_edge(backend.asarray(values), 1, 2))
    np.testing.assert_array_equal(padded, np.pad(values, ((0, 1), (0, 2)), mode="edge"))
    assert backend.pad_edge(values, 0, 0) is values or name == "torch"


def test_torch_cuda_refused_without_gpu():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(NiiError, match="CUDA"):
        get_backend("torch", "cuda")


def test_numpy_path_does_not_import_torch():
    code = (
        "import sys, numpy as np\n"
        "import nii, nii.correction, nii.discrimination, nii.calibration, nii.render, nii.backend\n"
        "b = nii.backend.get_backend('numpy'); b.box_mean(b.asarray(np.ones((4, 4))), 1)\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
