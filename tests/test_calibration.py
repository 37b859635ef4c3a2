"""Tests of nii.calibration: curves, lookup table, JSON, compatibility, wedge measurement."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_correction import StandInHeader, make_scan

from nii.calibration import (
    Calibration,
    MaterialCurve,
    calibrate,
    calibration_from_physics,
    load_calibration,
    measure_phantoms,
    physics_curves,
)
from nii.classes import class_of_zeff
from nii.correction import correct
from nii.errors import CalibrationError

WEDGE_MATERIALS = {
    "polyethylene": (0.94, {"H": 0.143723, "C": 0.856277}),
    "aluminium": (2.699, {"Al": 1.0}),
    "iron": (7.874, {"Fe": 1.0}),
    "lead": (11.35, {"Pb": 1.0}),
}


def _line_curve(name: str, zeff: float, ratio: float) -> MaterialCurve:
    alpha = np.array([0.5, 1.0, 2.0, 4.0])
    return MaterialCurve(
        name=name,
        zeff=zeff,
        attenuation_high=alpha,
        attenuation_low=alpha * ratio,
        noise_high=np.full(4, 0.01),
        noise_low=np.full(4, 0.01),
        areal_density_g_cm2=alpha / 0.03,
    )


def _toy_calibration(**kwargs) -> Calibration:
    curves = [_line_curve("light", 6.0, 1.40), _line_curve("medium", 13.0, 1.35), _line_curve("heavy", 26.0, 1.30)]
    defaults = dict(curves=curves, energies_mev=[6.0, 3.0], scanner_id="gantry-test", channels=8)
    defaults.update(kwargs)
    return Calibration(**defaults)


def test_lookup_table_interpolates_z_between_curves():
    table = _toy_calibration().lookup_table
    i = int(round(2.0 / table.alpha_step))
    def z_at(ratio):
        j = (ratio - table.ratio_start) / table.ratio_step
        j0 = int(np.floor(j))
        return table.zeff[i, j0] + (table.zeff[i, j0 + 1] - table.zeff[i, j0]) * (j - j0)
    assert z_at(1.35) == pytest.approx(13.0, abs=0.1)
    assert z_at(1.325) == pytest.approx(19.5, abs=0.2)  # half-way medium → heavy
    assert z_at(1.25) == pytest.approx(26.0, abs=0.1)  # below the heaviest curve: clamped
    # mass attenuation of the fitted material: α_H / ρt = 0.03 cm²/g for all toy curves
    assert table.mass_attenuation_cm2_g[i, 100] == pytest.approx(0.03, rel=1e-4)
    # the packed table the discrimination gathers from: Z, κ, class code, ambiguity per node
    packed = table.packed.reshape(table.shape + (4,))
    np.testing.assert_array_equal(packed[..., 0], table.zeff)
    np.testing.assert_array_equal(packed[..., 2], class_of_zeff(table.zeff))
    np.testing.assert_array_equal(packed[..., 3] > 0.5, table.ambiguous)


def test_degenerate_curves_are_flagged_ambiguous():
    # the heavy curve crosses above the light one: thin heavy absorbers look light
    curves = [_line_curve("light", 6.0, 1.40), _line_curve("medium", 13.0, 1.35), _line_curve("very heavy", 82.0, 1.45)]
    table = Calibration(curves=curves, energies_mev=[6.0, 3.0]).lookup_table
    i = int(round(1.0 / table.alpha_step))
    j = int(round((1.42 - table.ratio_start) / table.ratio_step))
    # R = 1.42 lies on the light→medium extrapolation? no: between medium (1.35) and very heavy (1.45)
    assert table.zeff[i, j] > 13.0
    j_amb = int(round((1.375 - table.ratio_start) / table.ratio_step))
    assert table.ambiguous[i, j_amb]  # light–medium and medium–heavy both give R = 1.375
    assert table.zeff[i, j_amb] < 13.0  # the lower-Z reading is kept


def test_json_round_trip(tmp_path):
    calibration = _toy_calibration(wedge_files=[{"path": "w.nxr", "sha256": "ab" * 32}])
    path = calibration.save(tmp_path / "cal.json")
    again = load_calibration(path)
    assert again.to_dict() == calibration.to_dict()
    data = json.loads(path.read_text())
    assert data["scanner_id"] == "gantry-test" and data["energies_mev"] == [6.0, 3.0]
    assert data["detector"]["channels"] == 8 and again.wedge_sha256 == ["ab" * 32]
    assert data["software"].startswith("nii ")


@pytest.mark.parametrize(
    "text,match",
    [
        ("{not json", "not a valid JSON"),
        ('{"format": "other"}', "not an NII calibration"),
        ('{"format": "nii-calibration", "version": 9}', "version"),
        ('{"format": "nii-calibration", "version": 1, "energies_mev": [6.0, 3.0], "curves": [{"name": "x"}]}', "zeff"),
        ('{"format": "nii-calibration", "version": 1, "energies_mev": [6.0, 3.0], "curves": []}', "two materials"),
    ],
)
def test_bad_calibration_files_are_calibration_errors(tmp_path, text, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(CalibrationError, match=match) as info:
        load_calibration(path)
    assert "bad.json" in str(info.value)


def test_missing_calibration_file_is_a_calibration_error(tmp_path):
    with pytest.raises(CalibrationError, match="cannot read"):
        load_calibration(tmp_path / "absent.json")


def test_check_compatible_names_both_sides():
    calibration = _toy_calibration()
    calibration.check_compatible(StandInHeader(scanner_id="gantry-test", channels=8))
    with pytest.raises(CalibrationError, match="'gantry-test' vs 'gantry-9'"):
        calibration.check_compatible(StandInHeader(scanner_id="gantry-9", channels=8))
    with pytest.raises(CalibrationError, match="6/3 MeV vs 9/6 MeV"):
        calibration.check_compatible(StandInHeader(scanner_id="gantry-test", channels=8, energies_mev=[9.0, 6.0]))
    with pytest.raises(CalibrationError, match="8 vs 16 detector channels"):
        calibration.check_compatible(StandInHeader(scanner_id="gantry-test", channels=16))


def test_physics_model_calibration_orders_materials_by_ratio():
    calibration = calibration_from_physics({"energies_mev": [6.0, 3.0]})
    assert calibration.source == "physics-model" and calibration.scanner_id is None
    by_name = {c.name: c for c in calibration.curves}
    assert {"polyethylene", "aluminium", "iron", "lead"} <= set(by_name)
    # at thick α_H (beam hardened, pair production) R falls with Z: PE > Al > Fe > Pb
    ratios = [by_name[n].ratio_at(np.array([5.0]))[0] for n in ("polyethylene", "aluminium", "iron", "lead")]
    assert ratios == sorted(ratios, reverse=True)
    assert by_name["iron"].zeff == pytest.approx(26.0, abs=0.01)
    # any scanner at these energies is compatible; other energies are not
    calibration.check_compatible(StandInHeader(scanner_id="whatever", channels=1024))
    with pytest.raises(CalibrationError):
        calibration.check_compatible(StandInHeader(energies_mev=[9.0, 6.0]))


# --------------------------------------------------------------------------- wedge scans


def _wedge_scan(energies=(6.0, 3.0), scanner_id="gantry-test"):
    """A stand-in calibration scan: 4 materials × 2 thicknesses, exact physics transmissions."""
    rows, block_cols, gap = 24, 16, 4
    thickness_mm = (30.0, 90.0)
    names = list(WEDGE_MATERIALS)
    cols = len(names) * (block_cols + gap) + gap
    t_high = np.ones((rows, cols))
    t_low = np.ones((rows, cols))
    phantom = []
    for m, name in enumerate(names):
        density, composition = WEDGE_MATERIALS[name]
        areal = np.array(thickness_mm) / 10.0 * density
        curve = physics_curves(list(energies), [composition], areal, min_transmission=0.0)[0]
        c0 = gap + m * (block_cols + gap)
        for k, thickness in enumerate(thickness_mm):
            r0 = k * rows // 2
            t_high[r0 : r0 + rows // 2, c0 : c0 + block_cols] = np.exp(-curve.attenuation_high[k])
            t_low[r0 : r0 + rows // 2, c0 : c0 + block_cols] = np.exp(-curve.attenuation_low[k])
            phantom.append(
                {
                    "material": {"name": name, "density_g_cm3": density, "composition": composition},
                    "thickness_mm": thickness,
                    "position_mm": [2.0 * c0, 2.0 * (c0 + block_cols - 1)],
                    "channels": [r0, r0 + rows // 2 - 1],
                }
            )
    scan = make_scan(t_high, t_low, air_level=60000.0, noise_sigma_counts=0.0, phantom=phantom, kind="calibration",
                     scanner_id=scanner_id, energies_mev=list(energies))
    return scan


def test_measure_phantoms_recovers_block_means():
    scan = _wedge_scan()
    points = measure_phantoms(correct(scan, scatter=None), scan.header, source="wedge")  # built without scatter
    assert len(points) == 8
    lead_thick = [p for p in points if p["name"] == "lead"][1]
    density, composition = WEDGE_MATERIALS["lead"]
    expected = physics_curves([6.0, 3.0], [composition], np.array([3.0, 9.0]) * density, min_transmission=0.0)[0]
    assert lead_thick["attenuation_high"] == pytest.approx(expected.attenuation_high[1], abs=2e-3)
    assert lead_thick["attenuation_low"] == pytest.approx(expected.attenuation_low[1], abs=2e-3)
    assert lead_thick["areal_density_g_cm2"] == pytest.approx(9.0 * density)
    assert lead_thick["pixels"] == (12 - 6) * (16 - 6)


def test_calibrate_from_wedge_scans():
    scan = _wedge_scan()
    calibration = calibrate([scan])
    assert calibration.source == "wedge-scans" and calibration.scanner_id == "gantry-test"
    measured = [c for c in calibration.curves if c.origin == "wedge"]
    assert sorted(c.name for c in measured) == sorted(WEDGE_MATERIALS)
    assert all(c.measured.sum() == 2 for c in measured)  # two steps each, measured
    assert all(c.attenuation_high.size > 2 for c in measured)  # extended by the model's shape
    assert any(c.origin == "physics-assisted" for c in calibration.curves)
    assert calibration.wedge_sha256 == [scan.sha256]
    # the extension is anchored on the measured ends: R continuous there
    lead = next(c for c in measured if c.name == "lead")
    last = np.flatnonzero(lead.measured)[-1]
    assert abs(lead.ratio[last + 1] - lead.ratio[last]) < 0.02
    plain = calibrate([scan], physics_assisted=False)
    assert all(c.origin == "wedge" and c.attenuation_high.size == 2 for c in plain.curves)


def test_calibrate_rejects_object_scans_and_mixed_scanners():
    scan = _wedge_scan()
    scan.header.kind = "object"
    with pytest.raises(CalibrationError, match="kind"):
        calibrate([scan])
    with pytest.raises(CalibrationError, match="differs from the first"):
        calibrate([_wedge_scan(), _wedge_scan(scanner_id="other")])
    with pytest.raises(CalibrationError, match="at least one"):
        calibrate([])


def test_calibrate_rejects_a_bad_phantom_list():
    scan = _wedge_scan()
    scan.header.phantom = [{"material": {"name": "x"}, "thickness_mm": 10}]
    with pytest.raises(CalibrationError, match="composition"):
        calibrate([scan])
