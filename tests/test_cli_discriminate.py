"""End-to-end tests of ``nii calibrate``, ``nii discriminate`` and ``nii render`` on small NXR files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nii.calibration import calibration_from_physics, physics_curves
from nii.classes import IMPENETRABLE, METAL, NONE
from nii.cli import main
from scanner_io import FLAG_AIR, FLAG_DARK, FLAG_DOSE_VALID, FLAG_POSITION_VALID, NxrWriter

CHANNELS = 16
AIR_ADU = 50000.0
DARK_ADU = 1000.0
IRON = {"Fe": 1.0}


def _header(kind="object", scanner_id="gantry-test", phantom=None, energies=(6.0, 3.0)):
    header = {
        "format": "nxr",
        "version": 1,
        "kind": kind,
        "scan_id": f"CLI-{kind}",
        "scanner_id": scanner_id,
        "started_at": "2026-11-30T08:15:00Z",
        "sample_dtype": "uint16",
        "detector": {"channels": CHANNELS, "pitch_mm": 5.0, "first_channel": "top", "saturation": 65535},
        "source": {"energies_mev": list(energies), "pulse_rate_hz": 400.0, "pattern": "interlaced"},
        "geometry": {"source_to_detector_mm": 10000.0, "source_to_object_mm": 7500.0},
        "conveyance": {"nominal_speed_mps": 0.4},
    }
    if phantom is not None:
        header["phantom"] = phantom
    return header


def write_nxr(path, t_high, t_low, *, seed=0, **header):
    """Write dark, air and object records of two interlaced energies with quantum-like noise."""
    rng = np.random.default_rng(seed)
    pulses = t_high.shape[1]
    step_mm = 1.0  # between consecutive pulses (0.4 m/s at 400 Hz)
    columns = {k: [] for k in ("pulse_index", "energy_index", "flags", "dose", "time_s", "position_mm", "samples")}
    pulse = 0

    def add(energy, flags, transmission, position):
        nonlocal pulse
        signal = DARK_ADU + transmission * AIR_ADU
        noise = rng.normal(0.0, 2.0 + 0.002 * np.sqrt(AIR_ADU * np.maximum(transmission, 0)) * 10, CHANNELS)
        columns["pulse_index"].append(pulse)
        columns["energy_index"].append(energy)
        columns["flags"].append(flags | FLAG_DOSE_VALID | FLAG_POSITION_VALID)
        columns["dose"].append(1.0)
        columns["time_s"].append(pulse / 400.0)
        columns["position_mm"].append(position)
        columns["samples"].append(np.clip(np.rint(signal + noise), 0, 65535).astype(np.uint16))
        pulse += 1

    for _ in range(8):
        for energy in (0, 1):
            add(energy, FLAG_DARK, np.zeros(CHANNELS), 0.0)
    for _ in range(16):
        for energy in (0, 1):
            add(energy, FLAG_AIR, np.ones(CHANNELS), 0.0)
    for column in range(pulses):
        for energy, transmission in ((0, t_high), (1, t_low)):
            add(energy, 0, transmission[:, column], (2 * column + energy) * step_mm)
    with NxrWriter(path, _header(**header)) as writer:
        writer.write_many(**{k: np.array(v) for k, v in columns.items()})
    return path


def _iron_block_scan(tmp_path, name="scan.nxr", **header):
    pulses = 80
    curve = physics_curves([6.0, 3.0], [IRON], np.array([10.0, 80.0]), min_transmission=0.0)[0]
    t_high = np.ones((CHANNELS, pulses))
    t_low = np.ones((CHANNELS, pulses))
    t_high[3:13, 20:60] = np.exp(-curve.attenuation_high[1])
    t_low[3:13, 20:60] = np.exp(-curve.attenuation_low[1])
    t_high[14:, 65:70] = 0.0  # nothing gets through: impenetrable
    t_low[14:, 65:70] = 0.0
    return write_nxr(tmp_path / name, t_high, t_low, **header)


def test_discriminate_writes_the_contract_map(tmp_path, capsys):
    scan = _iron_block_scan(tmp_path)
    out = tmp_path / "map.npz"
    assert main(["discriminate", str(scan), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "physics-model" in captured.err and "wrote" in captured.out
    with np.load(out) as data:
        classes, zeff = data["classes"], data["zeff"]
        assert classes.dtype == np.uint8 and classes.shape == (CHANNELS, 80)
        assert data["position_mm"].dtype == np.float64 and data["channel"].dtype == np.int32
        assert (classes[6:10, 28:52] == METAL).mean() > 0.95
        assert np.nanmedian(zeff[6:10, 28:52]) == pytest.approx(26.0, abs=4.0)
        assert (classes[0, :10] == NONE).all()
        assert (classes[15, 66:69] == IMPENETRABLE).all()
        assert np.isnan(zeff[classes == NONE]).all()


def test_discriminate_with_calibration_file_and_mismatch(tmp_path, capsys):
    scan = _iron_block_scan(tmp_path)
    good = calibration_from_physics({"energies_mev": [6.0, 3.0]})
    good_path = good.save(tmp_path / "good.json")
    assert main(["discriminate", str(scan), "--calibration", str(good_path), "-o", str(tmp_path / "m.npz")]) == 0
    other = calibration_from_physics({"energies_mev": [9.0, 6.0]})
    other_path = other.save(tmp_path / "other.json")
    capsys.readouterr()
    assert main(["discriminate", str(scan), "--calibration", str(other_path), "-o", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "9/6 MeV vs 6/3 MeV" in err and "Traceback" not in err
    assert not (tmp_path / "x.npz").exists()


def test_unreadable_inputs_exit_2(tmp_path, capsys):
    garbage = tmp_path / "garbage.nxr"
    garbage.write_bytes(b"not an nxr file at all")
    assert main(["discriminate", str(garbage), "-o", str(tmp_path / "m.npz")]) == 2
    assert main(["render", str(tmp_path / "missing.nxr"), "-o", str(tmp_path / "i.png")]) == 2
    bad_calibration = tmp_path / "bad.json"
    bad_calibration.write_text("{")
    scan = _iron_block_scan(tmp_path)
    assert main(["discriminate", str(scan), "--calibration", str(bad_calibration), "-o", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "Traceback" not in err


def test_render_pseudocolour_grey_and_verdict(tmp_path):
    scan = _iron_block_scan(tmp_path)
    verdict = {
        "scan_id": "CLI-object", "verdict": "inspect", "score": 0.9,
        "reasons": [{"code": "UNDECLARED_HIGH_Z", "severity": "high", "message": "dense object"}],
        "regions": [{"bbox": [3, 20, 13, 60], "bbox_mm": [0, 0, 1, 1], "material": "metal", "score": 0.9,
                     "reason": "UNDECLARED_HIGH_Z"}],
    }
    verdict_path = tmp_path / "v.json"
    verdict_path.write_text(json.dumps(verdict))
    for extra, name in (([], "colour.png"), (["--grey"], "grey.png"), (["--verdict", str(verdict_path)], "boxed.png")):
        out = tmp_path / name
        assert main(["render", str(scan), "-o", str(out), *extra]) == 0
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad_verdict = tmp_path / "bad_verdict.json"
    bad_verdict.write_text('{"regions": [{"bbox": [1, 2]}]}')
    assert main(["render", str(scan), "-o", str(tmp_path / "b.png"), "--verdict", str(bad_verdict)]) == 2


def test_calibrate_cli(tmp_path, capsys):
    pulses, rows = 100, CHANNELS
    t_high = np.ones((rows, pulses))
    t_low = np.ones((rows, pulses))
    phantom = []
    materials = {"polyethylene": (0.94, {"H": 0.143723, "C": 0.856277}), "iron": (7.874, IRON)}
    for m, (name, (density, composition)) in enumerate(materials.items()):
        curve = physics_curves([6.0, 3.0], [composition], np.array([50.0, 150.0]) * density / 10, min_transmission=0.0)[0]
        for k in range(2):
            c0 = 5 + (2 * m + k) * 24
            t_high[:, c0 : c0 + 18] = np.exp(-curve.attenuation_high[k])
            t_low[:, c0 : c0 + 18] = np.exp(-curve.attenuation_low[k])
            phantom.append({
                "material": {"name": name, "density_g_cm3": density, "composition": composition},
                "thickness_mm": [50.0, 150.0][k],
                "position_mm": [2.0 * c0, 2.0 * (c0 + 17)],
                "channels": [0, rows - 1],
            })
    wedge = write_nxr(tmp_path / "wedge.nxr", t_high, t_low, kind="calibration", phantom=phantom)
    out = tmp_path / "cal.json"
    assert main(["calibrate", str(wedge), "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["source"] == "wedge-scans" and data["scanner_id"] == "gantry-test"
    assert {s["name"] for s in data["steps"]} == {"polyethylene", "iron"} and data["digest"].startswith("sha256:")
    assert len(data["wedge_files"][0]["sha256"]) == 64
    # an object scan is no wedge scan
    scan = _iron_block_scan(tmp_path)
    capsys.readouterr()
    assert main(["calibrate", str(scan), "-o", str(tmp_path / "c2.json")]) == 2
    assert "kind" in capsys.readouterr().err
    # the calibration is then bound to its scanner
    other = _iron_block_scan(tmp_path, name="other.nxr", scanner_id="gantry-9")
    assert main(["discriminate", str(other), "--calibration", str(out), "-o", str(tmp_path / "m.npz")]) == 2
    assert "'gantry-test' vs 'gantry-9'" in capsys.readouterr().err


def test_a_tampered_calibration_is_one_sentence_exit_2(tmp_path, capsys):
    scan = _iron_block_scan(tmp_path)
    calibration = calibration_from_physics({"energies_mev": [6.0, 3.0]})
    path = calibration.save(tmp_path / "cal.json")
    data = json.loads(path.read_text())
    data["model"]["high"]["filtration_g_cm2"] += 1.0
    path.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["discriminate", str(scan), "--calibration", str(path), "-o", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert "digest does not match" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
