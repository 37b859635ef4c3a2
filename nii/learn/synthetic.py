"""A small synthetic generator of analysed dual-energy images with ground truth.

This is *not* the physics simulator (:mod:`nii.simulate` is): it draws α images
directly, so that the learning code can be tested, and the models smoke-trained,
without the acquisition chain. Cargo is a row of pallets of organic or inorganic
goods on a steel floor; a positive scan hides a dense block (metal or high-Z) inside
the cargo. α noise follows photon statistics, σ_α = sqrt(e^α / N), with N the
detected quanta of an unattenuated pixel.

The dual-energy ratios R = α_L/α_H per class are illustrative defaults near the
ratios of NIST total μ/ρ at 3 and 6 MeV (water 1.43, iron 1.18, lead 0.96; Hubbell &
Seltzer, NISTIR 5632), softened for broad linac spectra; they are parameters, not
data the toolkit relies on.
"""

from __future__ import annotations

import numpy as np

from nii.classes import HIGH_Z, IMPENETRABLE, INORGANIC, METAL, NONE, ORGANIC

from .sample import ScanSample

__all__ = ["DEFAULT_RATIOS", "synthetic_sample", "synthetic_samples"]

#: Illustrative α_L/α_H per class and a representative Z_eff (see module docstring).
DEFAULT_RATIOS: dict[int, tuple[float, float]] = {
    ORGANIC: (1.35, 7.0),
    INORGANIC: (1.25, 13.0),
    METAL: (1.15, 26.0),
    HIGH_Z: (1.02, 82.0),
}


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale: int) -> np.ndarray:
    coarse = rng.normal(size=(max(2, shape[0] // scale + 2), max(2, shape[1] // scale + 2)))
    rows = np.linspace(0, coarse.shape[0] - 1.001, shape[0])
    cols = np.linspace(0, coarse.shape[1] - 1.001, shape[1])
    r0, c0 = rows.astype(int), cols.astype(int)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    top = coarse[r0][:, c0] * (1 - fc) + coarse[r0][:, c0 + 1] * fc
    bottom = coarse[r0 + 1][:, c0] * (1 - fc) + coarse[r0 + 1][:, c0 + 1] * fc
    return top * (1 - fr) + bottom * fr


def synthetic_sample(
    rng: np.random.Generator,
    *,
    rows: int = 64,
    cols: int = 128,
    threat: bool = True,
    scan_id: str = "SYN-0",
    quanta_high: float = 2.0e4,
    quanta_low: float = 1.0e4,
    ratios: dict[int, tuple[float, float]] | None = None,
    row_height_mm: float = 10.0,
    column_pitch_mm: float = 10.0,
    mass_attenuation_high_cm2_g: float = 0.03,
) -> ScanSample:
    """Draw one analysed image with ground truth.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    rows, cols : int
        Image size (detector rows × columns).
    threat : bool
        Hide one dense block (metal or high-Z) in the cargo; the scan is then positive.
    scan_id : str
        Identifier of the sample.
    quanta_high, quanta_low : float
        Detected quanta of an unattenuated pixel at each energy (sets σ_α).
    ratios : dict, optional
        Class code → (α_L/α_H, Z_eff); :data:`DEFAULT_RATIOS` when omitted.
    row_height_mm, column_pitch_mm : float
        Pixel size at the scan plane (mm), for the cargo mass.
    mass_attenuation_high_cm2_g : float
        Effective μ/ρ (cm²/g) at the high energy used to turn α_H into areal density.

    Returns
    -------
    ScanSample
        With measured material features (noisy Z_eff from the measured ratio), truth
        classes, threat box and mask, label, and the true cargo mass.
    """
    table = DEFAULT_RATIOS if ratios is None else ratios
    shape = (rows, cols)
    alpha_high = np.zeros(shape)
    alpha_low = np.zeros(shape)
    truth = np.zeros(shape, dtype=np.uint8)

    floor = max(2, rows // 16)  # steel floor rows at the bottom
    alpha_high[-floor:] += 0.8
    alpha_low[-floor:] += 0.8 * table[METAL][0]
    truth[-floor:] = METAL

    texture = _smooth_field(rng, shape, 8)
    column = int(rng.integers(2, 8))
    cargo_mask = np.zeros(shape, dtype=bool)
    while column < cols - 6:
        width = int(rng.integers(cols // 10 + 4, cols // 4 + 6))
        end = min(cols - 2, column + width)
        height = int(rng.integers(rows // 3, rows - floor - 2))
        top = rows - floor - height
        kind = ORGANIC if rng.random() < 0.75 else INORGANIC
        thickness = rng.uniform(0.4, 3.0)
        block = thickness * (1.0 + 0.15 * texture[top:rows - floor, column:end])
        alpha_high[top:rows - floor, column:end] += block
        alpha_low[top:rows - floor, column:end] += table[kind][0] * block
        truth[top:rows - floor, column:end] = kind
        cargo_mask[top:rows - floor, column:end] = True
        column = end + int(rng.integers(1, 6))

    boxes, materials = [], []
    if threat:
        inside = np.argwhere(cargo_mask)
        height = int(rng.integers(max(3, rows // 16), max(4, rows // 5)))
        width = int(rng.integers(max(4, cols // 24), max(5, cols // 8)))
        if len(inside) == 0:  # no cargo drawn: hide it mid-image
            centre = np.array([rows // 2, cols // 2])
        else:
            centre = inside[int(rng.integers(len(inside)))]
        row0 = int(np.clip(centre[0] - height // 2, 0, rows - floor - height))
        col0 = int(np.clip(centre[1] - width // 2, 0, cols - width))
        kind = HIGH_Z if rng.random() < 0.5 else METAL
        extra = rng.uniform(0.8, 2.5)
        alpha_high[row0:row0 + height, col0:col0 + width] += extra
        alpha_low[row0:row0 + height, col0:col0 + width] += table[kind][0] * extra
        truth[row0:row0 + height, col0:col0 + width] = kind
        boxes.append([row0, col0, row0 + height, col0 + width])
        materials.append({METAL: "metal", HIGH_Z: "high_z"}[kind])

    sigma_high = np.sqrt(np.exp(alpha_high) / quanta_high)
    sigma_low = np.sqrt(np.exp(alpha_low) / quanta_low)
    measured_high = alpha_high + rng.normal(size=shape) * sigma_high
    measured_low = alpha_low + rng.normal(size=shape) * sigma_low

    # Measured material map: Z_eff interpolated on the measured ratio (as discrimination would).
    codes = sorted(table, key=lambda code: table[code][0])
    ratio_axis = np.array([table[c][0] for c in codes])
    zeff_axis = np.array([table[c][1] for c in codes])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = measured_low / measured_high
    zeff = np.interp(ratio, ratio_axis, zeff_axis).astype(np.float32)
    from nii.classes import class_of_zeff

    classes = class_of_zeff(zeff)
    too_thin = measured_high < 0.15
    impenetrable = alpha_high > 9.0
    zeff[too_thin | impenetrable] = np.nan
    classes[too_thin] = NONE
    classes[impenetrable] = IMPENETRABLE
    areal = (np.clip(measured_high, 0, None) / mass_attenuation_high_cm2_g).astype(np.float32)

    pixel_cm2 = row_height_mm * column_pitch_mm / 100.0
    true_areal = alpha_high / mass_attenuation_high_cm2_g
    cargo_mass_kg = float((true_areal * pixel_cm2)[cargo_mask].sum() / 1000.0)
    return ScanSample(
        scan_id=scan_id,
        attenuation_high=measured_high.astype(np.float32),
        attenuation_low=measured_low.astype(np.float32),
        sigma_high=sigma_high.astype(np.float32),
        sigma_low=sigma_low.astype(np.float32),
        zeff=zeff,
        classes=classes,
        areal_density_g_cm2=areal,
        truth_classes=truth,
        truth_zeff=np.where(truth > 0, np.vectorize(lambda c: table.get(c, (1.0, np.nan))[1])(truth), np.nan).astype(np.float32),
        boxes=np.array(boxes, dtype=np.int64).reshape(-1, 4),
        box_reasons=["UNDECLARED_HIGH_Z" if m == "high_z" else "CONCEALMENT_ANOMALY" for m in materials],
        box_materials=materials,
        label=int(threat),
        reasons=sorted({"UNDECLARED_HIGH_Z" if m == "high_z" else "CONCEALMENT_ANOMALY" for m in materials}),
        cargo_mass_kg=cargo_mass_kg,
        position_mm=np.arange(cols, dtype=np.float64) * column_pitch_mm,
        row_height_mm=row_height_mm,
    )


def synthetic_samples(count: int, *, seed: int = 0, threat_fraction: float = 0.5, **kwargs) -> list[ScanSample]:
    """Draw ``count`` samples, the first ``round(count × threat_fraction)`` positive, then shuffled.

    Parameters
    ----------
    count : int
        Number of samples.
    seed : int
        Seed of the generator (same seed, same samples).
    threat_fraction : float
        Fraction of positive samples (0–1).
    **kwargs
        Passed to :func:`synthetic_sample` (``rows``, ``cols``, ...).
    """
    rng = np.random.default_rng(seed)
    positives = int(round(count * threat_fraction))
    flags = np.array([True] * positives + [False] * (count - positives))
    rng.shuffle(flags)
    return [synthetic_sample(rng, threat=bool(flag), scan_id=f"SYN-{seed}-{i:04d}", **kwargs) for i, flag in enumerate(flags)]
