"""Array backends: one implementation of the hot path on numpy arrays or torch tensors.

The per-pixel arithmetic of :mod:`nii.correction` and :mod:`nii.discrimination` is
written once against the Python array API (``xp.log``, ``xp.take``, ``xp.where``...)
and runs on whichever namespace :func:`get_backend` returns: numpy (default, always
available) or torch on CPU or CUDA. Dispatch uses :mod:`array_api_compat`. torch is
imported only when asked for (through :func:`nii.errors.require_torch`), so
``import nii`` and the numpy path stay torch-free.

Examples
--------
>>> import numpy as np
>>> backend = get_backend("numpy")
>>> x = backend.asarray(np.array([1.0, 2.0]))
>>> backend.to_numpy(backend.xp.log(x)).round(3)
array([0.   , 0.693], dtype=float32)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nii.errors import NiiError, require_torch

__all__ = ["ArrayBackend", "get_backend", "available_backends", "BACKENDS"]

#: Names accepted by :func:`get_backend`.
BACKENDS = ("numpy", "torch")


@dataclass(frozen=True)
class ArrayBackend:
    """An array namespace bound to a device.

    Attributes
    ----------
    name : str
        ``"numpy"`` or ``"torch"``.
    device : str
        ``"cpu"`` or a torch device string such as ``"cuda"`` / ``"cuda:0"``.
    xp : module
        The array-API-compatible namespace (from :mod:`array_api_compat`).
    float_dtype : dtype
        The working floating dtype of that namespace (float32).
    """

    name: str
    device: str
    xp: Any
    float_dtype: Any
    int_dtype: Any
    bool_dtype: Any

    def asarray(self, array: Any, dtype: Any = None) -> Any:
        """Return ``array`` as an array of this backend on its device.

        Parameters
        ----------
        array : array_like
            numpy array, torch tensor or nested sequence (any units).
        dtype : dtype, optional
            Target dtype of this namespace (``None``: float32 for floating input,
            unchanged otherwise).
        """
        if self.name == "numpy":
            if not isinstance(array, np.ndarray) and hasattr(array, "detach"):
                array = array.detach().cpu().numpy()
            out = np.asarray(array)
            if dtype is None and np.issubdtype(out.dtype, np.floating):
                dtype = np.float32
            return out if dtype is None else out.astype(dtype, copy=False)
        torch = require_torch()
        if isinstance(array, np.ndarray):
            if array.dtype == np.uint16:
                # torch has limited uint16 support: widen losslessly
                array = array.astype(np.int32)
            elif array.dtype == np.uint32:
                array = array.astype(np.int64)
            tensor = torch.from_numpy(np.ascontiguousarray(array))
        elif isinstance(array, torch.Tensor):
            tensor = array
        else:
            tensor = torch.as_tensor(np.asarray(array))
        if dtype is None and tensor.is_floating_point():
            dtype = torch.float32
        return tensor.to(device=self.device, dtype=dtype)

    def to_float(self, array: np.ndarray) -> Any:
        """Return a new C-contiguous float32 array of this backend (never a view of the input).

        Parameters
        ----------
        array : numpy.ndarray
            Any real dtype and memory layout (e.g. the transposed view of NXR records).
        """
        if self.name == "numpy":
            return np.asarray(array).astype(np.float32, order="C")
        torch = require_torch()
        tensor = self.asarray(array) if isinstance(array, np.ndarray) else array
        return tensor.to(dtype=torch.float32, copy=True).contiguous()

    def to_numpy(self, array: Any) -> np.ndarray:
        """Return ``array`` (of this backend) as a numpy array on the host."""
        if isinstance(array, np.ndarray):
            return array
        if hasattr(array, "detach"):
            return array.detach().cpu().numpy()
        return np.asarray(array)

    def set_rows(self, array: Any, rows: np.ndarray, values: Any) -> Any:
        """Assign ``values`` to the given rows of a 2-D array in place and return it.

        Parameters
        ----------
        array : array
            2-D array of this backend (rows × columns).
        rows : numpy.ndarray of int
            Row indices (host array).
        values : array
            ``len(rows) × columns`` array of this backend.
        """
        if len(rows) == 0:
            return array
        index = rows if self.name == "numpy" else self.asarray(rows, dtype=self.int_dtype)
        array[index] = values
        return array

    def box_mean(self, array: Any, radius: int) -> Any:
        """Mean over a ``(2·radius+1)²`` square window of a 2-D array, edges replicated.

        Parameters
        ----------
        array : array
            2-D float array of this backend (any units).
        radius : int
            Half-width of the window (pixels); 0 returns the input.
        """
        if radius <= 0:
            return array
        size = 2 * int(radius) + 1
        if self.name == "numpy":
            from scipy.ndimage import uniform_filter

            return uniform_filter(array, size=size, mode="nearest")
        torch = require_torch()
        functional = torch.nn.functional
        out = array
        for axis in (1, 0):  # separable running sums, exact (float64 cumulative sums)
            padding = (radius, radius) if axis == 1 else (0, 0, radius, radius)
            padded = functional.pad(out[None], padding, mode="replicate")[0]
            sums = torch.cumsum(padded, dim=axis, dtype=torch.float64)
            zero = torch.zeros_like(sums.narrow(axis, 0, 1))
            sums = torch.cat([zero, sums], dim=axis)
            length = out.shape[axis]
            window = sums.narrow(axis, size, length) - sums.narrow(axis, 0, length)
            out = (window / size).to(array.dtype)
        return out

    def pad_edge(self, array: Any, rows: int, columns: int) -> Any:
        """Append ``rows`` rows and ``columns`` columns replicating the last ones (2-D).

        Parameters
        ----------
        array : array
            2-D array of this backend (any units).
        rows, columns : int
            Number of rows and columns to append (≥ 0).
        """
        if rows == 0 and columns == 0:
            return array
        if self.name == "numpy":
            return np.pad(array, ((0, rows), (0, columns)), mode="edge")
        torch = require_torch()
        return torch.nn.functional.pad(array[None, None], (0, columns, 0, rows), mode="replicate")[0, 0]

    def segment_sums(self, labels: Any, values: Any, count: int) -> Any:
        """Sum ``values`` per integer label (float64), like :func:`numpy.bincount`.

        Parameters
        ----------
        labels : array of int
            Label of each element (0 … count−1), same shape as ``values``.
        values : array or None
            Values to sum (any units); None counts the elements.
        count : int
            Number of labels.
        """
        if self.name == "numpy":
            weights = None if values is None else np.ravel(values).astype(np.float64)
            return np.bincount(np.ravel(labels), weights=weights, minlength=count)
        torch = require_torch()
        weights = None if values is None else values.reshape(-1).to(torch.float64)
        sums = torch.bincount(labels.reshape(-1), weights=weights, minlength=count)
        return sums.to(torch.float64)

    def take(self, array: Any, indices: Any, axis: int) -> Any:
        """Gather ``array`` along ``axis`` at integer ``indices`` (an array of this backend)."""
        if self.name == "numpy":
            return np.take(array, indices, axis=axis)
        torch = require_torch()
        return torch.index_select(array, axis, indices)


def get_backend(backend: str | ArrayBackend = "numpy", device: str | None = None) -> ArrayBackend:
    """Return the array backend named ``backend`` on ``device``.

    Parameters
    ----------
    backend : {"numpy", "torch"} or ArrayBackend
        Which array library runs the hot path. An :class:`ArrayBackend` is returned as is.
    device : str, optional
        ``"cpu"`` (default) or, for torch, ``"cuda"`` / ``"cuda:N"``.

    Returns
    -------
    ArrayBackend

    Raises
    ------
    nii.errors.NiiError
        Unknown backend, a GPU device asked of numpy, or an unavailable CUDA device.
    nii.errors.MissingExtraError
        torch asked for but not installed.
    """
    if isinstance(backend, ArrayBackend):
        return backend
    device = "cpu" if device in (None, "") else str(device)
    if backend == "numpy":
        if device != "cpu":
            raise NiiError(f"backend 'numpy' runs on the CPU only, not on device {device!r}; use --backend torch")
        import array_api_compat.numpy as xp

        return ArrayBackend("numpy", "cpu", xp, np.float32, np.int64, np.bool_)
    if backend == "torch":
        torch = require_torch()
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise NiiError(f"device {device!r} was asked for but torch sees no CUDA GPU; use --device cpu")
        try:
            torch.empty(0, device=device)
        except (RuntimeError, ValueError) as exc:
            raise NiiError(f"torch cannot use device {device!r}: {exc}") from exc
        import array_api_compat.torch as xp  # type: ignore[no-redef]

        return ArrayBackend("torch", device, xp, torch.float32, torch.int64, torch.bool)
    raise NiiError(f"unknown array backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def available_backends() -> list[tuple[str, str]]:
    """Return the ``(backend, device)`` pairs usable here (for tests and benchmarks).

    Always ``("numpy", "cpu")``; ``("torch", "cpu")`` when torch is installed and
    ``("torch", "cuda")`` when it also sees a GPU.
    """
    pairs = [("numpy", "cpu")]
    try:
        torch = require_torch()
    except ImportError:
        return pairs
    pairs.append(("torch", "cpu"))
    if torch.cuda.is_available():
        pairs.append(("torch", "cuda"))
    return pairs
