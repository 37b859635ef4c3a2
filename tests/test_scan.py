"""load_scan: raw images per energy, references, positions, external reference files."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from scanner_io import (
    FLAG_AIR,
    FLAG_DARK,
    FLAG_POSITION_VALID,
    NxrError,
    NxrWriter,
    load_scan,
    read_nxr,
)


def write(path, header, columns):
    with NxrWriter(path, header, overwrite=True) as writer:
        writer.write_many(**columns)
    return path


def test_frames_per_energy(small_scan):
    scan = load_scan(small_scan.path)
    columns = small_scan.columns
    flags, energy = columns["flags"], columns["energy_index"]
    assert scan.energies_mev == [6.0, 3.0] and scan.rows == 16
    assert scan.object_pulses == [40, 40] and scan.has_object_pulses
    for index, frames in enumerate(scan.frames):
        mask = ((flags & (FLAG_DARK | FLAG_AIR)) == 0) & (energy == index)
        assert frames.energy_index == index and frames.energy_mev == scan.energies_mev[index]
        assert frames.raw.shape == (16, 40) and frames.raw.dtype == np.uint16
        np.testing.assert_array_equal(frames.raw, columns["samples"][mask].T)
        np.testing.assert_array_equal(frames.pulse_index, columns["pulse_index"][mask])
        assert frames.pulse_index.dtype == np.int64 and frames.time_s.dtype == np.float64
        np.testing.assert_array_equal(frames.time_s, columns["time_s"][mask])
        np.testing.assert_allclose(frames.position_mm, columns["position_mm"][mask], rtol=1e-6)
        assert frames.position_valid.all() and frames.dose_valid.all()
        assert frames.dose.dtype == np.float32
        assert not frames.raw.flags.writeable
    np.testing.assert_array_equal(scan.channel, np.arange(16))
    assert scan.report.clean and scan.path == small_scan.path


def test_references_are_per_channel_statistics(small_scan):
    scan = load_scan(small_scan.path)
    columns = small_scan.columns
    for role, flag, references in (("dark", FLAG_DARK, scan.dark), ("air", FLAG_AIR, scan.air)):
        for index, reference in enumerate(references):
            mask = ((columns["flags"] & flag) != 0) & (columns["energy_index"] == index)
            samples = columns["samples"][mask].astype(np.float64)
            assert reference.pulses == 4, role
            np.testing.assert_allclose(reference.mean, samples.mean(axis=0))
            np.testing.assert_allclose(reference.std, samples.std(axis=0, ddof=1))
            assert reference.dose_mean == pytest.approx(columns["dose"][mask].mean(), rel=1e-6)
            assert not reference.synthetic
    assert scan.reference_sources == {"dark": "scan", "air": "scan"}


def test_sha256_of_file_bytes(small_scan):
    scan = load_scan(small_scan.path)
    assert scan.sha256 == hashlib.sha256(small_scan.path.read_bytes()).hexdigest()


def test_bottom_first_channel_flips_rows(tmp_path, nxr_header, columns_factory):
    columns = columns_factory(channels=5)
    path = write(
        tmp_path / "b.nxr",
        nxr_header(
            detector__channels=5, detector__first_channel="bottom", detector__bad_channels=[0]
        ),
        columns,
    )
    scan = load_scan(path)
    assert scan.channel.tolist() == [4, 3, 2, 1, 0]
    mask = (columns["flags"] & (FLAG_DARK | FLAG_AIR) == 0) & (columns["energy_index"] == 0)
    np.testing.assert_array_equal(scan.frames[0].raw, columns["samples"][mask].T[::-1])
    dark = columns["samples"][
        ((columns["flags"] & FLAG_DARK) != 0) & (columns["energy_index"] == 1)
    ]
    np.testing.assert_allclose(scan.dark[1].mean, dark.mean(axis=0)[::-1])
    assert scan.bad_channels == [0]


def test_invalid_positions_are_nan_and_gaps_keep_values(tmp_path, nxr_header, columns_factory):
    columns = columns_factory(objects=10)
    columns["flags"] = columns["flags"].copy()
    columns["flags"][-1] &= ~FLAG_POSITION_VALID
    keep = np.ones(len(columns["pulse_index"]), bool)
    keep[[-3, -6]] = False  # dropped pulses: irregular spacing takes the copy path
    columns = {k: v[keep] for k, v in columns.items()}
    scan = load_scan(write(tmp_path / "p.nxr", nxr_header(), columns))
    low = scan.frames[1]
    assert np.isnan(low.position_mm[-1]) and not low.position_valid[-1]
    assert np.isfinite(low.position_mm[:-1]).all()
    mask = (columns["flags"] & (FLAG_DARK | FLAG_AIR) == 0) & (columns["energy_index"] == 1)
    np.testing.assert_array_equal(low.raw, columns["samples"][mask].T)
    assert scan.report.dropped_pulses == sorted(np.flatnonzero(~keep).tolist())


def test_scan_without_object_pulses_loads(tmp_path, nxr_header, columns_factory):
    columns = columns_factory(objects=0)
    scan = load_scan(write(tmp_path / "refs.nxr", nxr_header(kind="air"), columns))
    assert scan.object_pulses == [0, 0] and not scan.has_object_pulses
    assert scan.frames[0].raw.shape == (16, 0)
    assert scan.air[0].pulses == 4


def test_missing_references_are_none(tmp_path, nxr_header, columns_factory):
    columns = columns_factory(dark=0, air=0, objects=5)
    scan = load_scan(write(tmp_path / "n.nxr", nxr_header(), columns))
    assert scan.dark == [None, None] and scan.air == [None, None]


def test_external_reference_files(tmp_path, nxr_header, columns_factory):
    scan_path = write(tmp_path / "obj.nxr", nxr_header(), columns_factory(dark=0, air=0, objects=8))
    dark_columns = columns_factory(dark=0, air=0, objects=6, seed=3)  # kind says dark, no flags
    dark_path = write(tmp_path / "dark.nxr", nxr_header(kind="dark"), dark_columns)
    air_columns = columns_factory(dark=0, air=5, objects=0, seed=4)
    air_path = write(tmp_path / "air.nxr", nxr_header(kind="air"), air_columns)
    scan = load_scan(scan_path, dark=dark_path, air=read_nxr(air_path))
    expected_dark = (
        dark_columns["samples"][dark_columns["energy_index"] == 0].astype(float).mean(axis=0)
    )
    np.testing.assert_allclose(scan.dark[0].mean, expected_dark)
    assert scan.dark[0].pulses == 6 and scan.air[1].pulses == 5
    assert scan.reference_sources == {"dark": str(dark_path), "air": str(air_path)}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scanner_id": "gantry-9"}, "scanner_id"),
        ({"detector__channels": 8}, "detector.channels"),
        ({"sample_dtype": "uint32"}, "sample_dtype"),
        ({"source__energies_mev": [9.0, 6.0]}, "source.energies_mev"),
    ],
)
def test_reference_from_another_scanner_is_an_error(
    tmp_path, nxr_header, columns_factory, change, field
):
    scan_path = write(tmp_path / "obj.nxr", nxr_header(), columns_factory(objects=4))
    header = nxr_header(kind="air", **change)
    channels = header["detector"]["channels"]
    columns = columns_factory(channels=channels, sample_dtype=header["sample_dtype"], objects=2)
    air_path = write(tmp_path / "air.nxr", header, columns)
    with pytest.raises(NxrError, match=field) as info:
        load_scan(scan_path, air=air_path)
    assert str(air_path) in str(info.value)


def test_reference_file_of_the_wrong_kind(tmp_path, nxr_header, columns_factory):
    scan_path = write(tmp_path / "obj.nxr", nxr_header(), columns_factory(objects=4))
    with pytest.raises(NxrError, match="kind 'dark'"):
        load_scan(scan_path, dark=scan_path)


def test_scan_pickles_with_its_digest(small_scan):
    import pickle

    scan = load_scan(small_scan.path)
    copy = pickle.loads(pickle.dumps(scan))
    assert copy.sha256 == scan.sha256
    np.testing.assert_array_equal(copy.frames[1].raw, scan.frames[1].raw)
