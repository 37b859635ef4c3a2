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


# --------------------------------------------------------------------------- stated tolerance (issue 10)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**GOOD, "items": [{"hs_code": "030389", "gross_mas_kg": 18000}]},
         "items[0]: unknown field `gross_mas_kg`; did you mean `gross_mass_kg`?"),
        ({**{k: v for k, v in GOOD.items() if k != "tare_mass_kg"}, "tare_mass": 2250},
         "unknown field `tare_mass`; did you mean `tare_mass_kg`?"),
        ({**{k: v for k, v in GOOD.items() if k != "declared_empty"}, "declared_empyt": True},
         "did you mean `declared_empty`?"),
        ({**GOOD, "items": [{"hs_code": "030389", "GrossMassKg": 18000}]}, "did you mean `gross_mass_kg`?"),
        ({**GOOD, "items": [{"hs_code": "030389", "gross_weight_kg": 18000}]}, "did you mean `gross_mass_kg`?"),
        ({**GOOD, "items": [{"hscode": "030389", "gross_mass_kg": 18000}]}, "did you mean `hs_code`?"),
        ({**GOOD, "gross_mass_kg": 18000}, "`gross_mass_kg` belongs in each of items[]"),
        ({**GOOD, "items": [{**GOOD["items"][0], "tare_mass_kg": 2200}]}, "`tare_mass_kg` belongs in the manifest's top level"),
    ],
)
def test_a_misspelled_or_misplaced_field_is_an_error(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(ManifestError) as error:
        load_manifest(path)
    assert message in str(error.value) and str(error.value).startswith(str(path))


def test_other_unknown_fields_are_kept_and_listed_in_the_warnings():
    data = {**GOOD, "shipper": "ACME", "items": [{**GOOD["items"][0], "origin": "NO"}]}
    manifest = load_manifest(data)
    assert manifest.extra_fields == {"shipper": "ACME"}
    assert manifest.items[0].extra_fields == {"origin": "NO"}
    assert manifest.declared_gross_mass_kg == 18000
    (warning,) = manifest.warnings
    assert "`shipper`" in warning and "`items[0].origin`" in warning and "not checked" in warning
    # Near a field that is there too: nothing would be dropped, so it is kept.
    beside = load_manifest({**GOOD, "items": [{**GOOD["items"][0], "hs_description": "fish"}]})
    assert beside.items[0].extra_fields == {"hs_description": "fish"}


def test_a_missing_gross_mass_is_recorded_and_warned():
    manifest = load_manifest({**GOOD, "items": [GOOD["items"][0], {"hs_code": "610910", "packages": 3}]})
    assert manifest.declared_gross_mass_kg is None  # a partial sum is not the declared mass
    assert any("items[1]" in w and "gross_mass_kg" in w and "not checked" in w for w in manifest.warnings)
    alone = load_manifest({**GOOD, "items": [{"hs_code": "610910"}]})
    assert alone.declared_gross_mass_kg is None and alone.warnings
    empty = load_manifest({**GOOD, "declared_empty": True, "items": []})
    assert empty.declared_gross_mass_kg is None and empty.warnings == ()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (json.dumps(GOOD).replace("18000", "9" * 400), "items[0].gross_mass_kg"),   # OverflowError before
        (json.dumps({**GOOD, "items": [{"hs_code": "030389", "gross_mass_kg": 1e308}] * 2}), "gross_mass_kg"),
        (json.dumps(GOOD).replace("18000", "NaN"), "items[0].gross_mass_kg"),
        (json.dumps(GOOD).replace("18000", "-Infinity"), "items[0].gross_mass_kg"),
        (json.dumps(GOOD).replace("18000", "1e400"), "items[0].gross_mass_kg"),
        (json.dumps(GOOD).replace("18000", "60001"), "items[0].gross_mass_kg"),
        (json.dumps({**GOOD, "items": [{"hs_code": "030389", "gross_mass_kg": 40000}] * 2}), "gross_mass_kg"),
        (json.dumps({**GOOD, "tare_mass_kg": 999}), "tare_mass_kg"),
        (json.dumps({**GOOD, "tare_mass_kg": 10001}), "tare_mass_kg"),
        (json.dumps({**GOOD, "tare_mass_kg": 0}), "tare_mass_kg"),
        (json.dumps(GOOD).replace("1200", "9" * 400), "items[0].packages"),
        (json.dumps(GOOD).replace("1200", "-1"), "items[0].packages"),
        (json.dumps({**GOOD, "container_id": 10 ** 40}), "container_id"),
        (json.dumps({**GOOD, "note": 1}).replace("1}", "NaN}"), "note"),
        (json.dumps({**GOOD, "note": [1]}).replace("[1]", "[" + "7" * 5000 + "]"), "note[0]"),
    ],
)
def test_numbers_are_checked_for_type_and_range(tmp_path, text, field):
    path = write(tmp_path, text)
    with pytest.raises(ManifestError) as error:
        load_manifest(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and field in message and "\n" not in message


def test_huge_numbers_from_python_do_not_overflow():
    with pytest.raises(ManifestError, match="gross_mass_kg"):
        load_manifest({**GOOD, "items": [{"hs_code": "030389", "gross_mass_kg": 10 ** 400}]})
    with pytest.raises(ManifestError, match="tare_mass_kg"):
        load_manifest({**GOOD, "tare_mass_kg": -(10 ** 400)})


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_deep_nesting_is_refused_before_parsing(tmp_path, opening):
    closing = "]" if opening == "[" else "}"
    path = write(tmp_path, opening * 100_000 + "1" + closing * 100_000)
    with pytest.raises(ManifestError, match="nests arrays and objects 100000 deep"):
        load_manifest(path)
    # Brackets inside strings are text, not nesting.
    assert load_manifest(write(tmp_path, {**GOOD, "items": [{**GOOD["items"][0], "description": "[" * 500}]}))


def test_a_device_is_refused_unread():
    import time

    started = time.perf_counter()
    with pytest.raises(ManifestError, match="/dev/zero: .*device"):
        load_manifest("/dev/zero")
    assert time.perf_counter() - started < 1.0


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    import os
    import threading

    fifo = tmp_path / "m.json"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read():
        try:
            load_manifest(fifo)
        except ManifestError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(5)
    if thread.is_alive():  # unblock the reader before failing
        with open(fifo, "w"):
            pass
        pytest.fail("load_manifest blocked on a FIFO")
    assert outcome and "FIFO" in str(outcome[0]) and str(fifo) in str(outcome[0])


def test_a_file_over_the_size_limit_is_refused(tmp_path):
    from nii.inspection.manifest import MAX_MANIFEST_BYTES

    path = write(tmp_path, json.dumps(GOOD) + " " * MAX_MANIFEST_BYTES)
    with pytest.raises(ManifestError, match="more than the 1,048,576 bytes"):
        load_manifest(path)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode("utf-8"))
    assert load_manifest(path).container_id == "MSCU1234567"


def test_iso_nominal_length():
    from nii.inspection.manifest import iso_nominal_length_mm

    assert load_manifest(GOOD).nominal_length_mm == pytest.approx(6058)
    assert load_manifest({**GOOD, "iso_type": "42G1", "tare_mass_kg": 3750}).nominal_length_mm == pytest.approx(12192)
    assert iso_nominal_length_mm("L5G1") == pytest.approx(45 * 304.8)  # not in the catalogue: ISO 6346 code
    assert iso_nominal_length_mm("A5G1") != iso_nominal_length_mm("A5G1")  # unknown: NaN

