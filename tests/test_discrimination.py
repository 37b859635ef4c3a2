"""Tests of nii.discrimination on synthetic images with known materials."""

from __future__ import annotations

import numpy as np
import pytest

from nii.backend import available_backends, get_backend
from nii.calibration import Calibration, calibration_from_physics, physics_curves
from nii.classes import HIGH_Z, IMPENETRABLE, INORGANIC, METAL, NONE, ORGANIC, class_of_zeff
from nii.correction import AnalysedImage
from nii.discrimination import MaterialMap, discriminate, guided_smooth
from nii.errors import AnalysisError, CalibrationError
from nii.physics import material, zeff

BACKENDS = available_backends()
BLOCK = 24
PHOTONS = (4e5, 1.5e5)  # detected photons per pixel in air, high / low


@pytest.fixture(scope="module")
def calibration():
    calibration = calibration_from_physics({"energies_mev": [6.0, 3.0]})
    assert calibration.lookup_table.shape[0] > 0  # build once
    return calibration


def synthetic_image(materials, areal_g_cm2, *, seed=0, noise=True) -> tuple[AnalysedImage, list]:
    """Blocks of materials (columns) × areal densities (rows), in air, with quantum noise."""
    curves = physics_curves([6.0, 3.0], list(materials), np.asarray(areal_g_cm2, float), min_transmission=0.0)
    rows, cols = BLOCK * len(areal_g_cm2), BLOCK * len(materials)
    alpha = np.zeros((2, rows, cols))
    for j, curve in enumerate(curves):
        for i in range(len(areal_g_cm2)):
            window = (slice(i * BLOCK + 3, (i + 1) * BLOCK - 3), slice(j * BLOCK + 3, (j + 1) * BLOCK - 3))
            alpha[0][window] = curve.attenuation_high[i]
            alpha[1][window] = curve.attenuation_low[i]
    sigma = np.stack([1.0 / np.sqrt(PHOTONS[e] * np.exp(-alpha[e])) for e in range(2)])
    rng = np.random.default_rng(seed)
    measured = alpha + (sigma * rng.standard_normal(alpha.shape) if noise else 0.0)
    false = np.zeros((rows, cols), bool)
    image = AnalysedImage(
        attenuation_high=measured[0].astype(np.float32),
        attenuation_low=measured[1].astype(np.float32),
        transmission_high=np.exp(-measured[0]).astype(np.float32),
        transmission_low=np.exp(-measured[1]).astype(np.float32),
        sigma_high=sigma[0].astype(np.float32),
        sigma_low=sigma[1].astype(np.float32),
        saturated=false.copy(),
        starved=false.copy(),
        repaired=false.copy(),
        position_mm=np.arange(cols) * 2.0,
        channel=np.arange(rows, dtype=np.int32),
        row_height_mm=3.75,
        column_pitch_mm=2.0,
        energies_mev=[6.0, 3.0],
        scan_id="SYN",
        starved_high=false.copy(),
        starved_low=false.copy(),
        saturated_high=false.copy(),
        saturated_low=false.copy(),
    )
    return image, curves


def interior(i, j):
    return slice(i * BLOCK + 6, (i + 1) * BLOCK - 6), slice(j * BLOCK + 6, (j + 1) * BLOCK - 6)


def test_blocks_come_out_as_their_class(calibration):
    materials = ["water", "aluminium", "salt", "iron", "copper", "lead"]
    areal = [40.0, 150.0]
    image, curves = synthetic_image(materials, areal)
    material_map = discriminate(image, calibration)
    for j, curve in enumerate(curves):
        for i in range(len(areal)):
            if curve.name == "lead" and areal[i] < 100:
                continue  # degenerate zone of thin lead (see test_thin_lead_degeneracy_is_shown)
            classes = material_map.classes[interior(i, j)]
            assert (classes == class_of_zeff(curve.zeff)).mean() >= 0.95, (curve.name, areal[i])
            zeff = np.nanmedian(material_map.zeff[interior(i, j)])
            if curve.zeff < 57:
                assert abs(zeff - curve.zeff) <= max(2.0, 0.15 * curve.zeff), (curve.name, areal[i], zeff)
            else:  # the curves of Z 57–92 nearly coincide at MeV: only the band is told
                assert zeff >= 57, (curve.name, areal[i], zeff)
            rho = np.nanmedian(material_map.areal_density_g_cm2[interior(i, j)])
            tolerance = 0.12 if curve.zeff < 57 else 0.15  # κ varies ~10 % with H content
            assert rho == pytest.approx(areal[i], rel=tolerance), (curve.name, areal[i])
    # air around the blocks has no material
    assert (material_map.classes[:2, :] == NONE).all()
    assert np.isnan(material_map.zeff[:2, :]).all()


def test_uncertainty_grows_with_noise(calibration):
    # without the model's accuracy floor, a region's Z interval is its photon noise alone
    exact = Calibration(model=calibration.model, source="physics-model", accuracy=0.0)
    image, _ = synthetic_image(["iron"], [60.0])
    quiet = discriminate(image, exact)
    image.sigma_high = image.sigma_high * 4
    image.sigma_low = image.sigma_low * 4
    noisy = discriminate(image, exact)
    inner = interior(0, 0)
    assert np.nanmedian(noisy.zeff_sigma[inner]) > 2.0 * np.nanmedian(quiet.zeff_sigma[inner]) > 0


def test_thin_lead_degeneracy_is_shown(calibration):
    image, _ = synthetic_image(["lead"], [60.0])
    material_map = discriminate(image, calibration)
    inner = interior(0, 0)
    # 60 g/cm² of lead gives the same (α_H, R) as a Z ≈ 40 metal: flagged, not hidden
    assert material_map.ambiguous[inner].mean() > 0.5
    assert (material_map.classes[inner] == METAL).mean() > 0.9  # the lower-Z reading
    higher = discriminate(image, calibration, degenerate_reading="higher")
    assert (higher.classes[inner] == HIGH_Z).mean() > 0.9
    with pytest.raises(CalibrationError, match="lower"):
        discriminate(image, calibration, degenerate_reading="middle")


def test_thin_starved_and_saturated_pixels(calibration):
    image, _ = synthetic_image(["iron"], [3.0])  # 3 g/cm²: α_H ≈ 0.1
    image.starved_high[:4, :4] = True
    image.starved[:4, :4] = True
    # what the correction gives a starved pixel: the transmission at the floor (α ≈ 9)
    image.attenuation_high[:4, :4] = 9.0
    image.attenuation_low[:4, :4] = 9.0
    image.saturated[-3:, -3:] = True
    material_map = discriminate(image, calibration)
    assert (material_map.classes[interior(0, 0)] == NONE).all()
    assert (material_map.classes[:4, :4] == IMPENETRABLE).all()
    assert np.isnan(material_map.zeff[:4, :4]).all() and np.isnan(material_map.zeff_sigma[:4, :4]).all()
    assert (material_map.classes[-3:, -3:] == NONE).all()


def test_guided_smoothing_keeps_edges_and_removes_noise():
    backend = get_backend("numpy")
    rng = np.random.default_rng(2)
    step = np.zeros((30, 40), np.float32)
    step[:, 20:] = 2.0
    sigma = np.full(step.shape, 0.02, np.float32)
    noisy = step + sigma * rng.standard_normal(step.shape).astype(np.float32)
    smooth, other, _, _ = guided_smooth(backend, noisy, noisy * 1.3, sigma, radius=3, edge_sigmas=3.0)
    assert np.std(smooth[:, 3:16] - step[:, 3:16]) < 0.02 / 3  # flat part: noise down ~7×
    np.testing.assert_allclose(smooth[:, 18], 0.0, atol=0.08)  # edge kept within a pixel or two
    np.testing.assert_allclose(smooth[:, 21], 2.0, atol=0.08)
    np.testing.assert_allclose(other[:, 25:35], 2.6, atol=0.02)


@pytest.mark.parametrize("backend,device", BACKENDS)
def test_backends_agree(calibration, backend, device):
    image, _ = synthetic_image(["water", "aluminium", "iron", "tungsten"], [30.0, 120.0], seed=5)
    image.starved_low[5:8, 5:8] = True
    reference = discriminate(image, calibration, backend="numpy")
    other = discriminate(image, calibration, backend=backend, device=device)
    assert (other.classes == reference.classes).mean() > 0.999
    finite = np.isfinite(reference.zeff) & np.isfinite(other.zeff)
    np.testing.assert_allclose(other.zeff[finite], reference.zeff[finite], rtol=1e-3, atol=0.05)
    np.testing.assert_allclose(other.attenuation_high, reference.attenuation_high, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(np.isnan(other.zeff), np.isnan(reference.zeff))
    assert other.provenance["backend"] == backend


def test_mismatched_energies_and_shapes_are_errors(calibration):
    image, _ = synthetic_image(["iron"], [60.0])
    image.energies_mev = [9.0, 6.0]
    with pytest.raises(CalibrationError, match="9/6 MeV"):
        discriminate(image, calibration)
    image, _ = synthetic_image(["iron"], [60.0])
    image.attenuation_low = image.attenuation_low[:, :-1]
    with pytest.raises(AnalysisError, match="one shape"):
        discriminate(image, calibration)


def test_save_npz_writes_the_contract_arrays(calibration, tmp_path):
    image, _ = synthetic_image(["water", "iron"], [50.0])
    image.starved_high[0, 0] = True
    material_map = discriminate(image, calibration)
    assert isinstance(material_map, MaterialMap)
    path = material_map.save_npz(tmp_path / "out" / "map.npz")
    with np.load(path) as data:
        assert data["classes"].dtype == np.uint8 and data["classes"].shape == image.attenuation_high.shape
        assert data["zeff"].dtype == np.float32
        assert data["position_mm"].dtype == np.float64 and data["channel"].dtype == np.int32
        classes, zeff = data["classes"], data["zeff"]
        assert np.isnan(zeff[(classes == NONE) | (classes == IMPENETRABLE)]).all()
        assert np.isfinite(zeff[(classes >= ORGANIC) & (classes <= HIGH_Z)]).all()
        assert set(np.unique(classes)) <= {NONE, ORGANIC, INORGANIC, METAL, HIGH_Z, IMPENETRABLE}
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["map.npz"]  # no temporary left


def test_region_merging_makes_a_noisy_block_one_material(calibration):
    image, curves = synthetic_image(["copper"], [150.0], seed=9)
    image.attenuation_high += (3 * image.sigma_high * np.random.default_rng(1).standard_normal(image.sigma_high.shape)).astype(np.float32)
    image.attenuation_low += (3 * image.sigma_low * np.random.default_rng(2).standard_normal(image.sigma_low.shape)).astype(np.float32)
    image.sigma_high *= np.sqrt(10.0)
    image.sigma_low *= np.sqrt(10.0)
    inner = interior(0, 0)
    pixelwise = discriminate(image, calibration, min_region_px=0)
    merged = discriminate(image, calibration)
    assert np.unique(pixelwise.zeff[inner]).size > 10  # pixel by pixel: scattered
    assert np.unique(merged.classes[inner]).tolist() == [METAL]
    assert np.unique(merged.zeff[inner]).size == 1 and abs(merged.zeff[inner][0, 0] - 29.0) < 6
    assert np.nanmedian(merged.zeff_sigma[inner]) < np.nanmedian(pixelwise.zeff_sigma[inner])


def test_a_thickness_ramp_is_not_flattened(calibration):
    image, _ = synthetic_image(["aluminium"], [60.0])
    ramp = np.linspace(0.5, 3.0, image.attenuation_high.shape[1], dtype=np.float32)
    image.attenuation_high[:] = ramp
    image.attenuation_low[:] = 1.36 * ramp
    material_map = discriminate(image, calibration)
    np.testing.assert_allclose(material_map.attenuation_high[10], ramp, atol=0.01)


def _side_by_side(left: str, right: str, areal_left: float, areal_right: float, *, seed: int = 3,
                  gap: bool = False) -> AnalysedImage:
    """Two blocks touching along a column, in air, the boundary column half of each
    (partial volume: the mean of the two transmissions; with ``gap``, half air: two
    cartons with a slit between them), with quantum noise."""
    curves = physics_curves([6.0, 3.0], [left, right], np.array([areal_left, areal_right]), min_transmission=0.0)
    by_name = {c.name: c for c in curves}
    rows, cols, top, bottom, split = 60, 90, 10, 50, 45
    transmission = np.ones((2, rows, cols))
    for energy, attribute in enumerate(("attenuation_high", "attenuation_low")):
        transmission[energy, top:bottom, 15:split] = np.exp(-getattr(by_name[left], attribute)[0])
        transmission[energy, top:bottom, split + 1 : 75] = np.exp(-getattr(by_name[right], attribute)[0])
        transmission[energy, top:bottom, split] = 0.5 * (
            np.exp(-getattr(by_name[left], attribute)[0]) + (1.0 if gap else np.exp(-getattr(by_name[right], attribute)[0])))
    alpha = -np.log(transmission)
    sigma = np.stack([1.0 / np.sqrt(PHOTONS[e] * transmission[e]) for e in range(2)])
    measured = alpha + sigma * np.random.default_rng(seed).standard_normal(alpha.shape)
    false = np.zeros((rows, cols), bool)
    return AnalysedImage(
        attenuation_high=measured[0].astype(np.float32), attenuation_low=measured[1].astype(np.float32),
        transmission_high=np.exp(-measured[0]).astype(np.float32), transmission_low=np.exp(-measured[1]).astype(np.float32),
        sigma_high=sigma[0].astype(np.float32), sigma_low=sigma[1].astype(np.float32),
        saturated=false.copy(), starved=false.copy(), repaired=false.copy(),
        position_mm=np.arange(cols) * 2.0, channel=np.arange(rows, dtype=np.int32), row_height_mm=3.75,
        column_pitch_mm=2.0, energies_mev=[6.0, 3.0], scan_id="EDGE", starved_high=false.copy(),
        starved_low=false.copy(), saturated_high=false.copy(), saturated_low=false.copy(),
    )


@pytest.mark.parametrize("left,right,areal_left,areal_right", [
    ("water", "iron", 80.0, 60.0),
    ("polyethylene", "aluminium", 40.0, 90.0),
    ("iron", "water", 100.0, 30.0),
])
def test_an_edge_between_two_blocks_takes_one_of_their_classes(calibration, left, right, areal_left, areal_right):
    image = _side_by_side(left, right, areal_left, areal_right)
    material_map = discriminate(image, calibration)
    allowed = {int(class_of_zeff(zeff(material(left)))), int(class_of_zeff(zeff(material(right))))}
    # every pixel of the blocks' rows, the boundary and the band along it included (not
    # the top and bottom edges, which border air), is one of the two materials
    band = material_map.classes[13:47, 18:72]
    assert set(np.unique(band).tolist()) <= allowed, np.unique(band, return_counts=True)
    # both blocks are there, each on its own side
    assert (material_map.classes[13:47, 18:40] == class_of_zeff(zeff(material(left)))).mean() > 0.95
    assert (material_map.classes[13:47, 51:72] == class_of_zeff(zeff(material(right)))).mean() > 0.95


def test_a_slit_between_two_cartons_is_their_material(calibration):
    image = _side_by_side("cellulose", "cellulose", 60.0, 60.0, gap=True)
    material_map = discriminate(image, calibration)
    assert (material_map.classes[13:47, 18:72] == ORGANIC).all(), np.unique(material_map.classes[13:47, 18:72],
                                                                           return_counts=True)


def test_a_block_edge_in_air_is_the_block_or_nothing(calibration):
    image = _side_by_side("aluminium", "aluminium", 90.0, 90.0)
    material_map = discriminate(image, calibration)
    classes = material_map.classes[5:55, 5:85]  # the block, its four edges and air around it
    assert set(np.unique(classes).tolist()) <= {NONE, INORGANIC}, np.unique(classes, return_counts=True)


@pytest.mark.parametrize("backend,device", BACKENDS)
def test_odd_shapes_and_unbinned_path(calibration, backend, device):
    image, curves = synthetic_image(["water", "iron"], [60.0], seed=4)
    for name in ("attenuation_high", "attenuation_low", "transmission_high", "transmission_low", "sigma_high",
                 "sigma_low", "saturated", "starved", "repaired", "starved_high", "starved_low", "saturated_high",
                 "saturated_low"):
        setattr(image, name, getattr(image, name)[:-1, :-1])  # 23 × 47: bins do not divide it
    image.channel, image.position_mm = image.channel[:-1], image.position_mm[:-1]
    binned = discriminate(image, calibration, backend=backend, device=device)
    unbinned = discriminate(image, calibration, backend=backend, device=device, bin_px=1)
    assert binned.classes.shape == unbinned.classes.shape == (23, 47)
    assert binned.provenance["bin_px"] == 2 and unbinned.provenance["bin_px"] == 1
    for j, curve in enumerate(curves):
        inner = interior(0, j)
        for material_map in (binned, unbinned):
            assert (material_map.classes[inner] == class_of_zeff(curve.zeff)).mean() >= 0.95, curve.name


def test_impenetrable_is_decided_by_the_region_precision_not_the_pixel_floor(calibration):
    """A block whose low-energy pixels sit at 1-3 sigma of the noise is read from its
    unclipped mean (flags of starved pixels do not matter); one with no signal is not."""
    image, curves = synthetic_image(["iron", "iron"], [100.0], seed=6)
    rng = np.random.default_rng(7)
    inner_left, inner_right = interior(0, 0), interior(0, 1)
    block = slice(3, BLOCK - 3), slice(3, BLOCK - 3)
    flags = rng.random(image.starved_low[block].shape) < 0.6
    image.starved_low[block] = flags
    image.starved[block] = flags
    # the right block: nothing gets through (T = 0 plus dark noise of the left block's size)
    right = slice(3, BLOCK - 3), slice(BLOCK + 3, 2 * BLOCK - 3)
    noise = 0.02 * float(np.exp(-curves[0].attenuation_low[0]))
    for name in ("transmission_high", "transmission_low"):
        values = getattr(image, name)
        values[right] = (noise * rng.standard_normal(values[right].shape)).astype(np.float32)
    for name in ("attenuation_high", "attenuation_low"):
        getattr(image, name)[right] = np.float32(9.0)
    image.starved[right] = True
    material_map = discriminate(image, calibration)
    assert (material_map.classes[inner_left] == METAL).all()
    assert (material_map.classes[inner_right] == IMPENETRABLE).all()


@pytest.mark.parametrize("backend,device", BACKENDS)
def test_region_estimates_agree_across_backends(calibration, backend, device):
    image, curves = synthetic_image(["water", "copper", "lead"], [40.0, 150.0], seed=11)
    reference = discriminate(image, calibration)
    other = discriminate(image, calibration, backend=backend, device=device)
    assert reference.region_estimates is not None and other.region_estimates is not None
    np.testing.assert_array_equal(other.classes, reference.classes)
    np.testing.assert_allclose(other.region_estimates.zeff, reference.region_estimates.zeff, atol=0.05)
    np.testing.assert_allclose(np.nan_to_num(other.zeff), np.nan_to_num(reference.zeff), atol=0.05)
    # region pixels carry their region's interval and consistent classes; the map keeps its contract
    inside = other.region > 0
    assert inside.mean() > 0.5 and other.consistent_classes.shape == other.classes.shape
    assert np.all(np.isfinite(other.zeff_sigma[inside & (other.classes >= 1) & (other.classes <= 4)]))
