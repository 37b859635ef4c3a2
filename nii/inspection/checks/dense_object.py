"""CONCEALMENT_ANOMALY: a compact object far denser than the uniform cargo around it.

The objects and their density bound come from :mod:`._compact` (an object is taken to be
no deeper along the beam than it is wide or tall). In uniform goods (food, timber,
plastics, paper, textiles) one at least ``min_density_g_cm3`` dense is metal or
shielding, not the goods: denser than any organic or mineral good and than aluminium.
In goods declared "mixed" (machinery, furniture, metal articles) dense parts are normal:
there only an object whose core stops the beam (``mixed_min_starved_share`` of its
pixels) inside goods the beam reads is raised, at medium severity: it may be a solid
part of the goods, or shielding, and nothing behind it can be seen. High-Z goods and
declared-empty containers are not checked (the empty check covers those).
"""

from __future__ import annotations

import math

from nii.inspection.checks._compact import compact_objects, describe
from nii.inspection.checks._context import CheckInput, CheckResult, dominant_material
from nii.inspection.verdict import Reason

__all__ = ["CODE", "check_dense_objects"]

CODE = "CONCEALMENT_ANOMALY"
_MAX_REGIONS = 5


def _declaration(inp: CheckInput) -> str:
    """``"exempt"`` (declared empty or high-Z goods), ``"mixed"`` (dense parts are normal) or ``"uniform"``."""
    if inp.manifest.declared_empty or inp.declared_high_z_chapters():
        return "exempt"
    return "mixed" if inp.declares_mixed_goods() else "uniform"


def check_dense_objects(inp: CheckInput) -> CheckResult:
    """Raise ``CONCEALMENT_ANOMALY`` for compact objects far denser than the uniform cargo around them.

    Parameters
    ----------
    inp : CheckInput
        Needs the α pair; thresholds from ``[checks.dense_object]``.

    Returns
    -------
    CheckResult
    """
    result = CheckResult()
    declaration = _declaration(inp)
    if declaration == "exempt":
        return result
    min_density = inp.threshold("dense_object", "min_density_g_cm3")
    objects = compact_objects(inp)
    dense = [item for item in objects if item.density_g_cm3 >= min_density]
    if declaration == "mixed":
        starved = inp.threshold("dense_object", "mixed_min_starved_share")
        dense = [item for item in dense if item.starved_share >= starved]
    if not dense:
        result.near_miss = min(max((item.density_g_cm3 / min_density for item in objects), default=0.0), 0.99)
        return result
    first = dense[0]
    r0, c0, r1, c1 = first.bbox
    margin = 6
    around = inp.classes[max(r0 - margin, 0):r1 + margin, max(c0 - margin, 0):c1 + margin]
    stops = "; the beam cannot read its core" if first.starved_share >= 0.2 else ""
    more = f"; {len(dense) - 1} more" if len(dense) > 1 else ""
    score = lambda d: min(0.99, 0.6 + 0.4 * (1.0 - math.exp(-d / (2.0 * min_density))))  # noqa: E731
    if declaration == "mixed":
        message = (f"compact object the beam cannot read ({describe(first)}) inside {dominant_material(around)} "
                   f"goods it reads: a solid part of the goods or shielding, and nothing behind it can be seen{more}")
    else:
        message = (f"compact dense object ({describe(first)}) inside {dominant_material(around)} cargo{stops}: "
                   f"metal or shielding, not the declared goods{more}")
    result.reasons.append(Reason(CODE, "medium" if declaration == "mixed" else "high", message,
                                 score(first.density_g_cm3)))
    for item in dense[:_MAX_REGIONS]:
        material = "impenetrable" if item.starved_share >= 0.5 else "metal"
        result.regions.append(inp.region(item.bbox, material, score(item.density_g_cm3), CODE))
    return result
