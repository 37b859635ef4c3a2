"""MATERIAL_MISMATCH against the HS expectation table."""

from __future__ import annotations

from _inspection_synthetic import (
    FRONT,
    IN_ROW0,
    IN_ROW1,
    REAR,
    Scene,
    cargo_kg,
    check_input,
    manifest,
)

from nii.classes import METAL, ORGANIC
from nii.inspection.checks import check_material_mix

ROWS = (IN_ROW0 + 20, IN_ROW1 - 1)
COLS = (FRONT + 3, REAR - 3)


def scene_of(cls, areal=40.0, seed=0):
    return Scene(seed=seed).add(ROWS[0], COLS[0], ROWS[1], COLS[1], areal, cls)


def items(hs_code, areal=40.0):
    return [{"hs_code": hs_code, "gross_mass_kg": cargo_kg(areal, ROWS[1] - ROWS[0], COLS[1] - COLS[0])}]


def test_organic_goods_declared_as_textiles_pass():
    result = check_material_mix(check_input(scene_of(ORGANIC), manifest(items=items("610910"))))
    assert result.reasons == []
    assert result.estimates["material_fractions"]["organic"] > 0.95


def test_organic_goods_declared_as_steel_are_raised():
    result = check_material_mix(check_input(scene_of(ORGANIC), manifest(items=items("720851"))))
    assert [reason.code for reason in result.reasons] == ["MATERIAL_MISMATCH"]
    assert "organic" in result.reasons[0].message and "HS 72" in result.reasons[0].message
    assert result.regions and result.regions[0].material == "organic"


def test_metal_declared_as_furniture_is_raised():
    result = check_material_mix(check_input(scene_of(METAL, 60.0), manifest(items=items("940360", 60.0))))
    assert result.reasons and result.reasons[0].code == "MATERIAL_MISMATCH"


def test_too_dense_for_declared_goods_is_raised():
    # Garments stow at most 600 kg/m3; 400 g/cm2 over a 2.25 m wide box is ~1,800 kg/m3.
    result = check_material_mix(check_input(scene_of(ORGANIC, 400.0), manifest(items=items("610910", 400.0))))
    assert result.reasons and "kg/m³" in result.reasons[0].message


def test_unknown_chapter_is_not_checked():
    result = check_material_mix(check_input(scene_of(METAL), manifest(items=items("990100"))))
    assert result.reasons == []


def test_impenetrable_load_declared_as_light_goods_is_raised():
    # 200 g/cm2 that the beam cannot cross: garments (at most 600 kg/m3 over a 2.25 m
    # wide box, 135 g/cm2) cannot stop the beam, whatever the class shares say.
    from nii.inspection import load_expectations
    from nii.inspection.checks import build_check_input

    image, material_map = scene_of(ORGANIC, 200.0).build(impenetrable_above=150.0)
    inp = build_check_input(image, material_map, manifest(items=items("610910", 200.0)), load_expectations())
    result = check_material_mix(inp)
    assert result.reasons and "kg/m³" in result.reasons[0].message
    assert any("impenetrable" in note for note in result.warnings)


def test_impenetrable_load_declared_as_dense_goods_is_not_raised():
    from nii.inspection import load_expectations
    from nii.inspection.checks import build_check_input

    image, material_map = scene_of(METAL, 200.0).build(impenetrable_above=150.0)
    inp = build_check_input(image, material_map, manifest(items=items("720851", 200.0)), load_expectations())
    assert check_material_mix(inp).reasons == []


def test_material_mix_is_not_compared_on_a_partial_container():
    from nii.inspection import load_expectations
    from nii.inspection.checks import build_check_input
    from nii.inspection.coverage import measure_input_coverage

    image, material_map = scene_of(ORGANIC, seed=3).build()
    keep = slice(0, FRONT + (REAR - FRONT) // 2)
    for holder in (image, material_map):
        for name, value in list(vars(holder).items()):
            if hasattr(value, "ndim") and value.ndim == 2:
                setattr(holder, name, value[:, keep].copy())
            elif name == "position_mm":
                setattr(holder, name, value[keep].copy())
    inp = build_check_input(image, material_map, manifest(items=items("720851")), load_expectations())
    measure_input_coverage(image, inp)
    result = check_material_mix(inp)
    assert result.reasons == []
    assert any(w.startswith("material mix not compared") for w in result.warnings)
    assert result.estimates["material_fractions"]["organic"] > 0.9


# ------------------------------------------------------- the declared goods as the beam sees them

def test_honest_machinery_mixture_is_not_a_mismatch():
    # Steel, aluminium, copper and plastics along the whole path: the class map reads the
    # mixture as one class, the declared shares are by mass; the model predicts the pair.
    from _model_synthetic import chapter_make_up, goods_kg, goods_scene

    for seed, areal in enumerate((60.0, 110.0, 160.0)):
        inp = goods_scene(chapter_make_up("84"), areal, [{"hs_code": "841370", "gross_mass_kg": goods_kg(areal)}],
                          seed=seed)
        result = check_material_mix(inp)
        assert result.reasons == [], result.reasons[0].message


def test_organic_goods_declared_as_machinery_are_raised_on_the_model():
    from _model_synthetic import chapter_make_up, goods_kg, goods_scene

    inp = goods_scene(chapter_make_up("61"), 100.0, [{"hs_code": "841370", "gross_mass_kg": goods_kg(100.0)}])
    result = check_material_mix(inp)
    assert [reason.code for reason in result.reasons] == ["MATERIAL_MISMATCH"]
    assert "lighter" in result.reasons[0].message and "HS 84" in result.reasons[0].message
    assert result.regions


def test_steel_declared_as_garments_is_raised_on_the_model():
    from _model_synthetic import chapter_make_up, goods_kg, goods_scene

    inp = goods_scene(chapter_make_up("72"), 50.0, [{"hs_code": "610910", "gross_mass_kg": goods_kg(50.0)}])
    result = check_material_mix(inp)
    assert result.reasons and result.reasons[0].code == "MATERIAL_MISMATCH"
    assert "heavier" in result.reasons[0].message


def test_honest_dense_organic_goods_are_not_a_mismatch():
    from _model_synthetic import chapter_make_up, goods_kg, goods_scene

    inp = goods_scene(chapter_make_up("03"), 110.0, [{"hs_code": "030389", "gross_mass_kg": goods_kg(110.0)}])
    assert check_material_mix(inp).reasons == []
