"""Manifest reading and validation (nii.inspection.manifest) and the expectation table."""

from __future__ import annotations

import json

import pytest

from nii.errors import CatalogueError, ManifestError
from nii.inspection import (
    container_type_for,
    expected_fractions,
    load_container_types,
    load_expectations,
    load_manifest,
)

GOOD = {
    "container_id": "MSCU1234567",
    "iso_type": "22G1",
    "tare_mass_kg": 2250,
    "declared_empty": False,
    "items": [{"hs_code": "030389", "description": "frozen fish, cartons", "gross_mass_kg": 18000, "packages": 1200}],
}


def write(tmp_path, data, name="m.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_reads_the_contract_example(tmp_path):
    manifest = load_manifest(write(tmp_path, GOOD))
    assert manifest.container_id == "MSCU1234567"
    assert manifest.container.name == "20ft"
    assert manifest.tare_mass_kg == 2250 and manifest.tare_declared
    assert manifest.declared_gross_mass_kg == 18000
    assert manifest.items[0].chapter == "03"
    assert manifest.warnings == ()


def test_tare_defaults_to_the_container_type():
    data = dict(GOOD)
    del data["tare_mass_kg"]
    manifest = load_manifest(data)
    assert manifest.tare_mass_kg == load_container_types()["22G1"].tare_kg
    assert not manifest.tare_declared


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"container_id": None}, "container_id"),
        ({"container_id": "  "}, "container_id"),
        ({"iso_type": "XYZ"}, "iso_type"),
        ({"iso_type": 22}, "iso_type"),
        ({"iso_type": "99Z9"}, "iso_type"),
        ({"tare_mass_kg": -5}, "tare_mass_kg"),
        ({"tare_mass_kg": "heavy"}, "tare_mass_kg"),
        ({"declared_empty": "no"}, "declared_empty"),
        ({"items": {"hs_code": "03"}}, "items"),
        ({"items": ["03"]}, "items[0]"),
        ({"items": [{"hs_code": "1"}]}, "hs_code"),
        ({"items": [{"hs_code": "12345678901"}]}, "hs_code"),
        ({"items": [{"hs_code": "03a389"}]}, "hs_code"),
        ({"items": [{"hs_code": 30389}]}, "hs_code"),
        ({"items": [{"hs_code": "030389", "gross_mass_kg": -1}]}, "gross_mass_kg"),
        ({"items": [{"hs_code": "030389", "gross_mass_kg": float("nan")}]}, "gross_mass_kg"),
        ({"items": [{"hs_code": "030389", "packages": 1.5}]}, "packages"),
    ],
)
def test_invalid_fields_name_the_field_and_the_file(tmp_path, change, field):
    data = {**GOOD, **change}
    if change.get("container_id", 1) is None:
        del data["container_id"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data, allow_nan=True), encoding="utf-8")
    with pytest.raises(ManifestError) as error:
        load_manifest(path)
    assert field in str(error.value)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "null", "\"manifest\""])
def test_not_a_json_object(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ManifestError, match="m.json"):
        load_manifest(path)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        load_manifest(tmp_path / "absent.json")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ManifestError, match="binary.json"):
        load_manifest(binary)
    with pytest.raises(ManifestError, match="folder"):
        load_manifest(tmp_path)


def test_unknown_hs_chapter_is_a_warning_not_an_error():
    data = {**GOOD, "items": GOOD["items"] + [{"hs_code": "990100", "gross_mass_kg": 10}]}
    manifest = load_manifest(data)
    assert len(manifest.items) == 2
    assert any("99" in warning for warning in manifest.warnings)


def test_hs_code_with_dots_is_normalised():
    manifest = load_manifest({**GOOD, "items": [{"hs_code": "0303.89", "gross_mass_kg": 5}]})
    assert manifest.items[0].hs_code == "030389"


def test_iso_type_resolution():
    types = load_container_types()
    assert {"22G1", "42G1", "45G1"} <= set(types)
    assert container_type_for("45g0", types).iso_types == ("45G1",)
    assert container_type_for("ZZZZ", types) is None
    assert types["42G1"].length_mm > types["22G1"].length_mm


def test_container_catalogue_errors(tmp_path):
    with pytest.raises(CatalogueError, match="not found"):
        load_container_types(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[types.22G1]\nname = '20ft'\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="tare"):
        load_container_types(bad)
    generic = tmp_path / "generic.toml"
    generic.write_text(
        "[containers.box]\niso_types = ['22G1']\ntare_kg = 2100\nlength_mm = 6058\nsource = 'test'\n",
        encoding="utf-8",
    )
    assert load_container_types(generic)["22G1"].tare_kg == 2100


def test_expectation_table_is_complete_and_consistent():
    table = load_expectations()
    # Every chapter of the HS nomenclature that carries goods (01-97, 77 is reserved).
    for chapter in (f"{n:02d}" for n in range(1, 98) if n != 77):
        expectation = table.get(chapter + "0000")
        assert expectation is not None, chapter
        assert abs(sum(expectation.fractions.values()) - 1) < 1e-6
        assert expectation.density_kg_m3[0] < expectation.density_kg_m3[1]
        assert expectation.source
    assert table.get("780110").high_z_expected
    assert not table.get("610910").high_z_expected
    for check in ("structure", "empty", "mass", "material", "concealment", "high_z", "unreadable", "structure_anomaly"):
        assert check in table.thresholds, check
    assert table.threshold("unreadable", "min_area_cm2") > 0


def test_expected_fractions_weigh_items_by_mass():
    manifest = load_manifest({**GOOD, "items": [
        {"hs_code": "610910", "gross_mass_kg": 3000},
        {"hs_code": "720851", "gross_mass_kg": 1000},
    ]})
    shares = expected_fractions(manifest.items, load_expectations())
    assert abs(sum(shares.values()) - 1) < 1e-9
    assert shares["organic"] == pytest.approx(0.75 * 0.9 + 0.25 * 0.05)
    assert shares["metal"] == pytest.approx(0.25 * 0.85)
