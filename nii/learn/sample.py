"""One scan's arrays and ground truth as the learning code sees them (numpy, torch-free)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from nii.errors import NiiError

__all__ = ["ScanSample", "boxes_to_mask", "clip_boxes"]


@dataclass
class ScanSample:
    """Analysed arrays and ground truth of one scan.

    Parameters
    ----------
    scan_id : str
        Scan identifier.
    attenuation_high, attenuation_low : numpy.ndarray of float32
        α = −ln T (dimensionless), rows × columns of the analysed grid.
    sigma_high, sigma_low : numpy.ndarray of float32 or None
        Noise standard deviation of α per pixel (dimensionless).
    zeff, classes, areal_density_g_cm2 : numpy.ndarray or None
        Measured material map (from discrimination): effective Z, class codes,
        iron-equivalent mass thickness (g/cm²). Model *inputs*, never truth.
    truth_classes, truth_zeff : numpy.ndarray or None
        Ground-truth material classes and effective Z on the analysed grid.
    boxes : numpy.ndarray of int64, shape (n, 4)
        Ground-truth threat regions ``(row0, col0, row1, col1)``, half-open pixels.
    box_reasons, box_materials : list of str
        Reason code and material class name of each box.
    mask : numpy.ndarray of uint8 or None
        Per-pixel threat mask (1 inside a threat); from the boxes when not given.
    label : int
        1 when the expected verdict is ``inspect``, 0 for ``clear``.
    reasons : list of str
        Expected reason codes of the scan.
    cargo_mass_kg : float or None
        True cargo mass (kg).
    position_mm : numpy.ndarray of float64 or None
        Conveyance position (mm) of each column.
    row_height_mm : float
        Height (mm) of one row at the scan plane.
    nxr_path : str or None
        The scan's NXR file, when it came from one (the physics checks re-read it).
    threat : str
        Threat type hidden in the scan (``scenario.threat`` of the truth, e.g.
        ``"lead_block"``), ``"none"`` for a clean scan; groups the per-threat figures.
    energies_mev : tuple of float or None
        Nominal end-point energies (MeV) of the scan, high first, when known.
    """

    scan_id: str
    attenuation_high: np.ndarray
    attenuation_low: np.ndarray
    sigma_high: np.ndarray | None = None
    sigma_low: np.ndarray | None = None
    zeff: np.ndarray | None = None
    classes: np.ndarray | None = None
    areal_density_g_cm2: np.ndarray | None = None
    truth_classes: np.ndarray | None = None
    truth_zeff: np.ndarray | None = None
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), dtype=np.int64))
    box_reasons: list[str] = field(default_factory=list)
    box_materials: list[str] = field(default_factory=list)
    mask: np.ndarray | None = None
    label: int = 0
    reasons: list[str] = field(default_factory=list)
    cargo_mass_kg: float | None = None
    position_mm: np.ndarray | None = None
    row_height_mm: float = 1.0
    nxr_path: str | None = None
    threat: str = "none"
    energies_mev: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        shape = np.shape(self.attenuation_high)
        if len(shape) != 2 or np.shape(self.attenuation_low) != shape:
            raise NiiError(f"scan {self.scan_id}: attenuation_high and attenuation_low must be rows × columns of one shape")
        for name in ("sigma_high", "sigma_low", "zeff", "classes", "areal_density_g_cm2", "truth_classes", "truth_zeff", "mask"):
            value = getattr(self, name)
            if value is not None and np.shape(value) != shape:
                raise NiiError(f"scan {self.scan_id}: {name} {np.shape(value)} does not match the image {shape}")
        self.boxes = np.asarray(self.boxes, dtype=np.int64).reshape(-1, 4)
        if not self.box_reasons:
            self.box_reasons = ["CONCEALMENT_ANOMALY"] * len(self.boxes)
        if not self.box_materials:
            self.box_materials = [""] * len(self.boxes)
        if len(self.box_reasons) != len(self.boxes) or len(self.box_materials) != len(self.boxes):
            raise NiiError(f"scan {self.scan_id}: one reason and one material are needed per box")
        if self.mask is None:
            self.mask = boxes_to_mask(self.boxes, shape)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of the analysed image."""
        return tuple(np.shape(self.attenuation_high))  # type: ignore[return-value]

    def crop(self, row0: int, col0: int, rows: int, cols: int, *, min_visible: float = 0.3) -> ScanSample:
        """Return the window ``[row0:row0+rows, col0:col0+cols]`` with boxes clipped to it.

        Boxes keeping less than ``min_visible`` of their area inside the window are dropped
        (a sliver of a threat is not a threat to learn from).
        """
        rows_slice = slice(row0, row0 + rows)
        cols_slice = slice(col0, col0 + cols)
        arrays: dict[str, Any] = {}
        for name in ("attenuation_high", "attenuation_low", "sigma_high", "sigma_low", "zeff", "classes",
                     "areal_density_g_cm2", "truth_classes", "truth_zeff", "mask"):
            value = getattr(self, name)
            arrays[name] = None if value is None else value[rows_slice, cols_slice]
        keep, clipped = clip_boxes(self.boxes, (row0, col0, row0 + rows, col0 + cols), min_visible)
        position = None if self.position_mm is None else self.position_mm[cols_slice]
        return replace(
            self,
            **arrays,
            boxes=clipped - np.array([row0, col0, row0, col0]),
            box_reasons=[self.box_reasons[i] for i in keep],
            box_materials=[self.box_materials[i] for i in keep],
            position_mm=position,
        )


def clip_boxes(boxes, window, min_visible: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Clip boxes to a window and keep those with enough visible area.

    Parameters
    ----------
    boxes : array_like, shape (n, 4)
        ``(row0, col0, row1, col1)`` pixels.
    window : tuple of int
        ``(row0, col0, row1, col1)`` of the window, pixels.
    min_visible : float
        Smallest kept fraction of a box's area inside the window (0–1).

    Returns
    -------
    keep : numpy.ndarray of int
        Indices of the kept boxes.
    clipped : numpy.ndarray of int64, shape (k, 4)
        The kept boxes clipped to the window (same coordinates as the input).
    """
    array = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    top, left, bottom, right = window
    clipped = np.stack(
        [np.clip(array[:, 0], top, bottom), np.clip(array[:, 1], left, right),
         np.clip(array[:, 2], top, bottom), np.clip(array[:, 3], left, right)], axis=1
    ) if len(array) else array.copy()
    area = (array[:, 2] - array[:, 0]) * (array[:, 3] - array[:, 1])
    visible = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = np.nonzero((visible > 0) & (visible >= min_visible * np.maximum(area, 1)))[0]
    return keep, clipped[keep].reshape(-1, 4)


def boxes_to_mask(boxes, shape: tuple[int, int]) -> np.ndarray:
    """Return a uint8 mask (rows × columns) that is 1 inside any of the boxes."""
    mask = np.zeros(shape, dtype=np.uint8)
    for row0, col0, row1, col1 in np.asarray(boxes, dtype=np.int64).reshape(-1, 4):
        mask[max(row0, 0):max(row1, 0), max(col0, 0):max(col1, 0)] = 1
    return mask
