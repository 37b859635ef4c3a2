"""Coverage of the container (SCAN_INCOMPLETE): damaged scans are never a silent clear.

Small simulated scans (64 channels; a few at 1,024 channels with few pulses) are cut,
thinned, saturated or emptied in memory, then inspected: each gives ``inspect`` with
``SCAN_INCOMPLETE`` or an analysis error, never ``clear``, and never a mass compared
on a partial container. Clean scans of both container lengths stay complete.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from _inspection_synthetic import FRONT, REAR, Scene, manifest

from nii.errors import AnalysisError
from nii.inspection import load_expectations, verdict_from_maps
from nii.inspection.coverage import (
    CODE,
    Coverage,
    lost_pulse_share,
    measure_coverage,
    unread_columns,
)
from nii.reasons import REASON_CODES
from scanner_io import FLAG_AIR, FLAG_DARK, ReadReport, scan_from_records, validate_header

PROVENANCE = {"input_sha256": "cd" * 32, "calibration": "physics:test"}


# --------------------------------------------------------------------------- simulated scans


def _simulate(container="20ft", chapter="61", threat="none", seed=3, channels=64, pulses=1200):
    from nii.simulate import ScannerConfig, build_scenario, simulate_scan

    scenario = build_scenario(container, chapter, threat, seed=seed)
    return scenario, simulate_scan(scenario, ScannerConfig().scaled(channels, pulses), seed)


@pytest.fixture(scope="module")
def clean20():
    """A 20 ft container of knitted garments, 64 channels, honestly declared (expected clear)."""
    return _simulate()


@pytest.fixture(scope="module")
def lead20():
    """A 20 ft container with a hidden lead block, 64 channels."""
    return _simulate(threat="lead-block", seed=5)


def _objects(records):
    return (records["flags"] & (FLAG_AIR | FLAG_DARK)) == 0


def _scan(sim, keep=None, *, samples=None, saturation=None):
    """The simulated scan as read, keeping ``keep`` records (the others lost to CRC failures)."""
    header = copy.deepcopy(sim.header)
    if saturation is not None:
        header["detector"]["saturation"] = saturation
    records = sim.records()
    if samples is not None:
        samples(records)
    report = ReadReport(records=int(records.size))
    if keep is not None:
        kept = records[keep]
        last = int(kept["pulse_index"].max())
        lost = [int(p) for p in records["pulse_index"][~keep] if p < last]
        report = ReadReport(records=int(kept.size), crc_failures=int((~keep).sum()), dropped_pulses=sorted(lost))
        records = kept
    return scan_from_records(validate_header(header), records, report)


def _first(sim, share):
    """Keep the references and the first ``share`` of the object pulses (a cut scan)."""
    records = sim.records()
    objects = np.flatnonzero(_objects(records))
    keep = ~_objects(records)
    keep[objects[: int(objects.size * share)]] = True
    return keep


def _inspect(scan, the_manifest):
    from nii.inspection import run_inspection

    return run_inspection(scan, the_manifest).verdict


def _assert_incomplete(verdict):
    assert verdict.verdict == "inspect"
    assert CODE in verdict.reason_codes
    assert "MASS_MISMATCH" not in verdict.reason_codes
    assert "MATERIAL_MISMATCH" not in verdict.reason_codes
    assert verdict.cargo_mass_kg is None
    assert any(w.startswith("cargo mass not compared") for w in verdict.warnings)
    data = verdict.to_dict()
    assert data["estimates"]["cargo_mass_kg"] is None
    regions = [r for r in data["regions"] if r["reason"] == CODE]
    assert regions
    return next(r for r in verdict.reasons if r.code == CODE), regions


def test_the_code_is_a_stable_reason_code():
    assert CODE == "SCAN_INCOMPLETE" and CODE in REASON_CODES
    from nii.inspection.dicos_export import THREAT_CATEGORY_OF_REASON, assessment_flag

    assert THREAT_CATEGORY_OF_REASON[CODE] == "ANOMALY"
    assert assessment_flag(CODE, "high") == "UNKNOWN"


def test_clean_scan_is_complete_and_clear(clean20):
    scenario, sim = clean20
    verdict = _inspect(_scan(sim), scenario.manifest)
    assert sim.truth.expected_verdict == "clear"
    assert verdict.verdict == "clear", verdict.summary()
    coverage = verdict.coverage
    assert isinstance(coverage, Coverage) and coverage.complete
    assert coverage.front.seen and coverage.rear.seen and coverage.length_source == "measured"
    assert coverage.length_mm == pytest.approx(6058.0, abs=40.0)
    assert coverage.read_fraction == pytest.approx(1.0)
    assert verdict.cargo_mass_kg is not None and verdict.cargo_mass_kg > 1000


@pytest.mark.parametrize(("container", "length_mm", "channels", "pulses"), [
    ("20ft", 6058.0, 64, 400), ("40ft", 12192.0, 64, 800), ("20ft", 6058.0, 1024, 400), ("40ft", 12192.0, 1024, 800),
])
def test_clean_scans_cover_their_container(container, length_mm, channels, pulses):
    from nii.correction import correct

    _, sim = _simulate(container, "03", seed=11, channels=channels, pulses=pulses)
    image = correct(_scan(sim))
    coverage = measure_coverage(
        image.attenuation_high, image.sigma_high, position_mm=image.position_mm,
        column_pitch_mm=image.column_pitch_mm, settings=load_expectations().thresholds["coverage"],
        saturated=image.saturated, declared_length_mm=length_mm,
    )
    assert coverage.complete, coverage
    # Both ends found from the image itself: the measured length is the ISO length
    # within a column and the blur.
    assert coverage.length_mm == pytest.approx(length_mm, abs=2.5 * image.column_pitch_mm + 20.0)


def test_a_scan_keeping_a_tenth_of_its_pulses_is_incomplete(clean20):
    scenario, sim = clean20
    records = sim.records()
    keep = ~_objects(records) | (np.random.default_rng(0).random(records.size) < 0.1)
    reason, _ = _assert_incomplete(_inspect(_scan(sim, keep), scenario.manifest))
    assert "of the object pulses were lost" in reason.message


@pytest.mark.parametrize("share", [0.01, 0.2])
def test_a_scan_cut_short_is_incomplete(clean20, share):
    scenario, sim = clean20
    reason, _ = _assert_incomplete(_inspect(_scan(sim, _first(sim, share)), scenario.manifest))
    assert reason.severity == "high"


def test_a_scan_cut_to_a_seventh_says_what_is_missing(clean20):
    scenario, sim = clean20
    verdict = _inspect(_scan(sim, _first(sim, 1 / 7)), scenario.manifest)
    reason, regions = _assert_incomplete(verdict)
    assert "before the container's rear end" in reason.message
    assert "of the container was not read" in reason.message and "declared 22G1" in reason.message
    coverage = verdict.coverage
    assert coverage.front.seen and not coverage.rear.seen and coverage.length_source == "declared"
    # The scan saw ~0.6 m of the 6.06 m box.
    assert 0.05 < coverage.read_fraction < 0.15
    missing = 6058.0 * (1 - coverage.read_fraction)
    assert f"{missing / 1000:.1f} m" in reason.message
    # The region: the image's last column, its bbox_mm the span beyond the image.
    columns = coverage.image_columns
    region = regions[0]
    assert region["bbox"][1] == columns - 1 and region["bbox"][3] == columns
    assert region["bbox_mm"][1] == pytest.approx(coverage.image_x_mm[1], abs=0.1)
    assert region["bbox_mm"][3] - region["bbox_mm"][1] == pytest.approx(missing, abs=1.0)
    assert "cargo mass not compared" in verdict.summary()


def test_a_scan_whose_front_is_cut_is_incomplete(clean20):
    scenario, sim = clean20
    records = sim.records()
    objects = np.flatnonzero(_objects(records))
    keep = ~_objects(records)
    keep[objects[objects.size // 2:]] = True
    verdict = _inspect(_scan(sim, keep), scenario.manifest)
    reason, _ = _assert_incomplete(verdict)
    assert "after the container's front end" in reason.message
    assert not verdict.coverage.front.seen and verdict.coverage.rear.seen


def test_a_lead_block_scan_cut_before_the_lead_is_not_clear(lead20):
    scenario, sim = lead20
    x_lead = min(region["bbox_mm"][1] for region in sim.truth.regions)
    records = sim.records()
    keep = ~_objects(records) | (records["position_mm"] < x_lead - 300.0)
    verdict = _inspect(_scan(sim, keep), scenario.manifest)
    _assert_incomplete(verdict)
    assert verdict.coverage.image_x_mm[1] < x_lead


def test_a_gap_in_the_middle_is_reported_as_a_region(clean20):
    scenario, sim = clean20
    records = sim.records()
    objects = np.flatnonzero(_objects(records))
    keep = np.ones(records.size, bool)
    keep[objects[objects.size // 3: objects.size // 3 + objects.size // 8]] = False
    verdict = _inspect(_scan(sim, keep), scenario.manifest)
    reason, regions = _assert_incomplete(verdict)
    assert "a gap the scan did not measure" in reason.message
    lost = [r for r in regions if r["bbox"][3] - r["bbox"][1] > 10]
    assert lost and lost[0]["bbox_mm"][3] - lost[0]["bbox_mm"][1] > 500


def test_a_few_lost_pulses_keep_the_scan_complete(clean20):
    scenario, sim = clean20
    records = sim.records()
    keep = ~_objects(records) | (np.random.default_rng(1).random(records.size) < 0.8)
    verdict = _inspect(_scan(sim, keep), scenario.manifest)
    assert CODE not in verdict.reason_codes and verdict.coverage.complete
    assert verdict.cargo_mass_kg is not None


def test_every_sample_saturated_is_an_analysis_error(clean20):
    scenario, sim = clean20

    def saturate(records):
        records["samples"][_objects(records)] = 65535

    with pytest.raises(AnalysisError, match="saturated"):
        _inspect(_scan(sim, samples=saturate, saturation=65535), scenario.manifest)


def test_mostly_saturated_samples_are_incomplete(clean20):
    scenario, sim = clean20
    records = sim.records()
    objects = np.flatnonzero(_objects(records))
    pick = objects[objects.size // 5: objects.size * 4 // 5]   # the middle 60 % of the pulses

    def saturate(records):
        records["samples"][pick] = 65535

    verdict = _inspect(_scan(sim, samples=saturate, saturation=65535), scenario.manifest)
    reason, _ = _assert_incomplete(verdict)
    # Both ends were measured; the saturated middle was not.
    assert verdict.coverage.front.seen and verdict.coverage.rear.seen
    assert "of the container's samples are saturated or not finite" in reason.message
    assert 0.3 < verdict.coverage.read_fraction < 0.5


def test_nothing_in_the_beam_with_goods_declared_is_incomplete(clean20):
    scenario, sim = clean20
    rng = np.random.default_rng(3)

    def empty(records):
        # Object pulses with the air pulses' own samples and dose: an empty beam.
        air, objects = (records["flags"] & FLAG_AIR) != 0, _objects(records)
        for energy in np.unique(records["energy_index"]):
            source = np.flatnonzero(air & (records["energy_index"] == energy))
            target = np.flatnonzero(objects & (records["energy_index"] == energy))
            pick = rng.choice(source, target.size)
            records["samples"][target] = records["samples"][pick]
            records["dose"][target] = records["dose"][pick]

    declared = dict(scenario.manifest, items=[{"hs_code": "610910", "gross_mass_kg": 9000}])
    verdict = _inspect(_scan(sim, samples=empty), declared)
    reason, regions = _assert_incomplete(verdict)
    assert reason.message.startswith("nothing is in the beam") and "9,000 kg" in reason.message
    assert not verdict.coverage.in_beam
    assert regions[0]["bbox"] == [0, 0, 64, verdict.coverage.image_columns]


def test_the_cli_prints_the_reason_and_warnings_and_exits_2_on_no_measurement(clean20, tmp_path, capsys):
    from nii.cli import EXIT_ERROR, EXIT_INSPECT, main
    from scanner_io import NxrWriter

    scenario, sim = clean20
    manifest_path = tmp_path / "m.json"
    manifest_path.write_text(json.dumps(scenario.manifest), encoding="utf-8")

    def write(path, records, header):
        with NxrWriter(path, header) as writer:
            writer.write_many(**{name: records[name] for name in
                                 ("pulse_index", "energy_index", "flags", "dose", "time_s", "position_mm", "samples")})

    records = sim.records()
    cut = tmp_path / "cut.nxr"
    write(cut, records[_first(sim, 1 / 7)], sim.header)
    assert main(["inspect", str(cut), "--manifest", str(manifest_path), "--out", str(tmp_path / "a")]) == EXIT_INSPECT
    first, *notes = capsys.readouterr().out.strip().splitlines()
    assert "SCAN_INCOMPLETE" in first and "n/a" in first
    assert any(note.startswith("  warning: cargo mass not compared") for note in notes)

    saturated = tmp_path / "saturated.nxr"
    records["samples"][_objects(records)] = 65535
    header = copy.deepcopy(sim.header)
    header["detector"]["saturation"] = 65535
    write(saturated, records, header)
    assert main(["inspect", str(saturated), "--manifest", str(manifest_path), "--out", str(tmp_path / "b")]) == EXIT_ERROR
    assert "saturated" in capsys.readouterr().err


# --------------------------------------------------------------------------- hand-built scenes


def _crop(scene, c0, c1):
    """The scene's image and map keeping columns c0..c1 only (a scan cut at both sides)."""
    image, material_map = scene.build()
    for holder in (image, material_map):
        for name, value in list(vars(holder).items()):
            if isinstance(value, np.ndarray) and value.ndim == 2:
                setattr(holder, name, value[:, c0:c1].copy())
            elif name == "position_mm":
                setattr(holder, name, value[c0:c1].copy())
    return image, material_map


def test_hand_built_container_is_complete():
    image, material_map = Scene(seed=1).build()
    verdict = verdict_from_maps(image, material_map, manifest(), provenance=PROVENANCE)
    coverage = verdict.coverage
    assert coverage.complete and CODE not in verdict.reason_codes
    assert coverage.cols == (FRONT, REAR)
    assert coverage.length_mm == pytest.approx((REAR - FRONT) * 25.0)


def test_hand_built_container_cut_at_both_sides_reads_against_the_declared_length():
    image, material_map = _crop(Scene(seed=2), FRONT + 60, REAR - 60)
    verdict = verdict_from_maps(image, material_map, manifest(), provenance=PROVENANCE)
    reason = next(r for r in verdict.reasons if r.code == CODE)
    coverage = verdict.coverage
    assert not coverage.front.seen and not coverage.rear.seen
    assert coverage.read_fraction == pytest.approx((REAR - FRONT - 120) * 25.0 / 6058.0, abs=0.01)
    assert "starts inside the container" in reason.message and "ends inside the container" in reason.message
    assert len([r for r in verdict.regions if r.reason == CODE]) == 2


def test_a_container_without_an_end_frame_is_not_taken_as_whole():
    from nii.classes import METAL

    scene = Scene(seed=3, container=False)
    # Side walls, roof and floor, but no front wall or doors: not the declared box.
    scene.add(4, FRONT, 90, REAR, 2.67, METAL).add(4, FRONT, 6, REAR, 62.0, METAL).add(84, FRONT, 90, REAR, 8.0, METAL)
    verdict = verdict_from_maps(*scene.build(), manifest(), provenance=PROVENANCE)
    reason = next(r for r in verdict.reasons if r.code == CODE)
    assert "shows no end frame" in reason.message


# --------------------------------------------------------------------------- helpers


def test_unread_columns_are_the_gaps_between_pulses():
    grid = np.arange(0.0, 100.0, 1.0)
    pulses = np.concatenate([np.arange(0.0, 30.0, 1.0), np.arange(80.0, 100.0, 1.0)])
    unread = unread_columns(grid, pulses, 10.0)
    assert unread.nonzero()[0].tolist() == list(range(30, 80))
    assert not unread_columns(grid, pulses, 60.0).any()
    assert not unread_columns(grid, None, 10.0).any()


def test_lost_share_counts_only_inside_the_object_pulses():
    assert lost_pulse_share(np.arange(10, 20), list(range(0, 10)) + [25]) == 0.0
    assert lost_pulse_share(np.array([10, 20]), list(range(11, 20))) == pytest.approx(9 / 11)
    assert lost_pulse_share(np.array([], np.int64), [1, 2]) == 0.0


def test_air_alone_rarely_looks_occupied():
    # Pure noise at the stated per-pixel sigma: the false-alarm rate is the stated one.
    settings = load_expectations().thresholds["coverage"]
    rng = np.random.default_rng(4)
    occupied = 0
    for _ in range(20):
        alpha = rng.normal(0.0, 0.003, (64, 500)).astype(np.float32)
        coverage = measure_coverage(alpha, np.full(alpha.shape, 0.003, np.float32), position_mm=np.arange(500.0) * 3.2,
                                    column_pitch_mm=3.2, settings=settings)
        occupied += coverage.in_beam
    assert occupied == 0
    assert math.isclose(coverage.thresholds["false_alarm_rate"], float(settings["false_alarm_rate"]))


def test_a_40ft_manifest_on_a_20ft_scan_is_warned_about():
    from _inspection_synthetic import IN_ROW0, IN_ROW1, cargo_kg

    from nii.classes import ORGANIC

    rows, cols = (IN_ROW0 + 20, IN_ROW1 - 1), (FRONT + 3, REAR - 3)
    goods = [{"hs_code": "610910", "gross_mass_kg": 0.95 * cargo_kg(40.0, rows[1] - rows[0], cols[1] - cols[0])}]

    def scene():
        return Scene(seed=5).add(rows[0], cols[0], rows[1], cols[1], 40.0, ORGANIC).build()

    verdict = verdict_from_maps(*scene(), manifest(items=goods, iso_type="42G1"), provenance=PROVENANCE)
    assert verdict.coverage.complete and CODE not in verdict.reason_codes
    assert any(w.startswith("the container measures 6.") and "42G1 is 12.2 m long" in w for w in verdict.warnings)
    # The cargo space is the measured box's, not the declared 40 ft one's.
    assert "MASS_MISMATCH" not in verdict.reason_codes, verdict.summary()
    verdict = verdict_from_maps(*scene(), manifest(items=goods), provenance=PROVENANCE)
    assert not any("the container measures" in w for w in verdict.warnings)
    assert verdict.verdict == "clear", verdict.summary()


def test_without_a_noise_map_the_noise_is_measured_from_the_image():
    image, material_map = Scene(seed=6).build()
    image.sigma_high = np.zeros_like(image.sigma_high)   # a source that gives no usable noise
    verdict = verdict_from_maps(image, material_map, manifest(), provenance=PROVENANCE)
    assert verdict.coverage.complete and verdict.coverage.cols == (FRONT, REAR)
