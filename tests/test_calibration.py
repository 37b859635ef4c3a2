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
    defaults = dict(curves=curves, energies_mev=[6.0, 3.0], scanner_id="gantry-test", channels=8, pitch_mm=5.0)
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
        ('{"format": "nii-calibration", "version": 1, "energies_mev": [6.0, 3.0], "curves": []}', "version 1"),
        ('{"format": "nii-calibration", "version": 2, "energies_mev": [6.0, 3.0], "curves": []}', "required"),
        ('{"format": "nii-calibration", "version": 2, "energies_mev": [3.0, 6.0]}', "highest energy first"),
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
    # (within the ADC quantisation: 0.0034 of 60,000 counts is ~200 counts at the low energy)
    assert lead_thick["attenuation_high"] == pytest.approx(expected.attenuation_high[1], abs=3e-3)
    assert lead_thick["attenuation_low"] == pytest.approx(expected.attenuation_low[1], abs=3e-3)
    assert lead_thick["areal_density_g_cm2"] == pytest.approx(9.0 * density)
    assert lead_thick["pixels"] == (12 - 6) * (16 - 6)
    # the unclipped mean transmission is what is kept (α is its −ln)
    assert lead_thick["attenuation_high"] == pytest.approx(-np.log(lead_thick["transmission_high"]))


def test_calibrate_from_wedge_scans():
    scan = _wedge_scan()
    calibration = calibrate([scan])
    assert calibration.source == "wedge-scans" and calibration.scanner_id == "gantry-test"
    assert calibration.model is not None and len(calibration.steps) == 8
    assert sorted({s["name"] for s in calibration.steps}) == sorted(WEDGE_MATERIALS)
    assert calibration.wedge_sha256 == [scan.sha256]
    # exact physics transmissions: the fit stays at nominal and reproduces every step
    for residual in calibration.residuals:
        assert abs(residual["residual_high"]) < 3e-3 and abs(residual["residual_low"]) < 3e-3, residual
    # curves come from the model (nothing measured is extrapolated), lead the heaviest wedge
    names = {c.name for c in calibration.curves}
    assert set(WEDGE_MATERIALS) <= names and all(c.origin == "model" for c in calibration.curves)


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


# --------------------------------------------------------------------------- checked before use (issue 10)


@pytest.fixture(scope="module")
def fitted():
    return calibrate([_wedge_scan()])


def _resigned(data: dict) -> str:
    """The document with a fresh digest: an edit a careless tool re-signs must still be caught."""
    from nii.calibration import content_digest

    data = json.loads(json.dumps(data))
    data["digest"] = content_digest(data)
    return json.dumps(data)


def test_fitted_calibration_round_trips(tmp_path, fitted):
    path = fitted.save(tmp_path / "cal.json")
    again = load_calibration(path)
    assert again.to_dict() == fitted.to_dict()
    assert again.identifier == fitted.identifier
    layers = [({"Fe": 1.0}, 50.0), ({"H": 0.112, "O": 0.888}, 30.0)]  # an overlap: water in front of iron
    np.testing.assert_allclose(again.model.predict(layers), fitted.model.predict(layers), rtol=1e-12)
    data = json.loads(path.read_text())
    assert data["digest"].startswith("sha256:") and len(data["fit"]["residuals"]) == 8
    assert set(data["model"]) == {"detector", "high", "low"}
    assert set(data["model"]["high"]["scales"]) == {"photo", "compton", "pair"}


def test_tampered_digest_is_refused(tmp_path, fitted):
    data = fitted.to_dict()
    data["steps"][0]["attenuation_high"] *= 1.01
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CalibrationError, match="digest does not match") as info:
        load_calibration(path)
    assert "tampered.json" in str(info.value) and "\n" not in str(info.value)


def test_swapped_energies_are_refused(fitted):
    data = fitted.to_dict()
    for step in data["steps"]:
        step["attenuation_high"], step["attenuation_low"] = step["attenuation_low"], step["attenuation_high"]
    with pytest.raises(CalibrationError, match="swapped"):
        Calibration.from_json(_resigned(data), source="swapped.json")
    data = fitted.to_dict()
    data["model"]["high"], data["model"]["low"] = data["model"]["low"], data["model"]["high"]
    with pytest.raises(CalibrationError, match="swapped"):
        Calibration.from_json(_resigned(data), source="swapped-model.json")


def test_permuted_z_labels_are_refused(fitted):
    data = fitted.to_dict()
    by_name = {s["name"]: s["composition"] for s in data["steps"]}
    permutation = {"polyethylene": "lead", "lead": "aluminium", "aluminium": "iron", "iron": "polyethylene"}
    for step in data["steps"]:
        step["name"] = permutation[step["name"]]
        step["composition"] = by_name[step["name"]]
    with pytest.raises(CalibrationError, match="label is wrong"):
        Calibration.from_json(_resigned(data), source="permuted.json")


def test_areal_density_times_ten_is_refused(fitted):
    data = fitted.to_dict()
    for step in data["steps"]:
        step["areal_density_g_cm2"] *= 10.0
    with pytest.raises(CalibrationError, match="label is wrong"):
        Calibration.from_json(_resigned(data), source="x10.json")


def test_a_model_that_orders_r_wrongly_is_refused(fitted):
    data = fitted.to_dict()
    # the pair cross section scaled down at the high energy only: heavy materials lose their
    # high-energy attenuation and R no longer falls with Z
    data["model"]["high"]["scales"]["pair"] = 0.05
    with pytest.raises(CalibrationError, match="does not|ratio|label is wrong"):
        Calibration.from_json(_resigned(data), source="order.json")


@pytest.mark.parametrize("edit,match", [
    (lambda d: d.pop("scanner_id"), "required"),
    (lambda d: d.pop("detector"), "required"),
    (lambda d: d.update(scanner_id=""), "must name its scanner"),
    (lambda d: d["detector"].update(pitch_mm=None), "detector geometry"),
    (lambda d: d["detector"].update(channels="abc"), "detector.channels"),
    (lambda d: d.update(notes=5), "notes"),
    (lambda d: d.update(software=7), "software"),
    (lambda d: d["steps"][0].update(pixels=-3), "pixels"),
    (lambda d: d["steps"][0].update(noise_low=-0.1), "noise"),
    (lambda d: d["steps"][0]["composition"].update(Xx=0.1), "unknown element"),
    (lambda d: d["model"]["low"]["scales"].update(pair="a lot"), "numbers"),
    (lambda d: d["fit"].update(accuracy=-1), "accuracy"),
])
def test_missing_identity_and_bad_types_are_one_sentence(fitted, edit, match):
    data = fitted.to_dict()
    edit(data)
    with pytest.raises(CalibrationError, match=match) as info:
        Calibration.from_json(_resigned(data), source="edited.json")
    message = str(info.value)
    assert message.startswith("edited.json") and "\n" not in message and "Traceback" not in message


def test_compatibility_is_checked_even_without_identity(fitted):
    scan_header = StandInHeader(scanner_id="gantry-test", channels=24)
    fitted.check_compatible(scan_header)
    with pytest.raises(CalibrationError, match="names no scanner"):
        fitted.check_compatible(StandInHeader(scanner_id=None, channels=24))


def test_a_physically_wrong_fit_is_refused():
    scan = _wedge_scan()
    for block in scan.header.phantom:  # every lead step labelled as polyethylene
        if block["material"]["name"] == "lead":
            block["material"] = dict(block["material"], name="polyethylene",
                                     composition=WEDGE_MATERIALS["polyethylene"][1])
    with pytest.raises(CalibrationError, match="refused|physical bound"):
        calibrate([scan])
