"""UNREADABLE_REGION: the beam could not read a region large enough to hide something.

Pixels the beam cannot read inside the container's cargo space are grouped into
connected regions: the discrimination's class 5 (a region whose material the data
cannot tell) and, where a region's mean still tells its material, the pixels
photon-starved over most of their bin's neighbourhood (``MaterialMap.starved_majority``):
an object hidden there would not show, whatever the region is made of. The floor, roof
and end bands are structure, not hiding places: at 3 MeV the beam along the floor
boards and cross members is starved over the whole length in every scan, and the
structure check looks at them. An opening by ``min_extent_mm`` (at least two pixels)
drops what is too thin to hide anything (dead detector channels, the bodies of single
bottles between readable slits, sheet edges); regions of at least ``min_area_cm2`` at
the scan plane are reported.
"""

from __future__ import annotations

import math

from nii.classes import IMPENETRABLE
from nii.inspection.checks._context import CheckInput, CheckResult, components
from nii.inspection.checks._morphology import box_pixels, open_rect
from nii.inspection.verdict import Reason

__all__ = ["CODE", "check_unreadable"]

CODE = "UNREADABLE_REGION"
_MAX_REGIONS = 5


def check_unreadable(inp: CheckInput) -> CheckResult:
    """Raise ``UNREADABLE_REGION`` for impenetrable regions above the size threshold.

    Parameters
    ----------
    inp : CheckInput
        Threshold ``[checks.unreadable] min_area_cm2`` (cm² at the scan plane).

    Returns
    -------
    CheckResult
    """
    result = CheckResult()
    # The core is what the discrimination calls impenetrable (most pixels of a bin
    # starved; a region near the starvation floor taken as a whole), not every starved
    # pixel: rows of bottles or drums starve the low energy along each bottle's body but
    # leave readable slits between them every few centimetres, and anything large enough
    # to matter would darken those slits too. Repaired channels stay out.
    core = inp.classes == IMPENETRABLE
    if inp.starved_majority is not None:
        # A region whose mean still tells its material (read to the photon limit) can
        # hide an object all the same: pixel by pixel the beam sees nothing there.
        core = core | inp.starved_majority
    unreadable = inp.unreadable & core
    structure = inp.structure
    if structure.found:
        rows, cols = structure.interior()
        inside = unreadable[rows, cols].copy()
        unreadable[:] = False
        unreadable[rows, cols] = inside
    extent = inp.threshold("unreadable", "min_extent_mm")
    unreadable = open_rect(unreadable, max(2, box_pixels(extent, inp.row_height_mm)),
                           max(2, box_pixels(extent, inp.column_pitch_mm)))
    if not unreadable.any():
        return result
    min_area = inp.threshold("unreadable", "min_area_cm2")
    pixel_area = inp.pixel_area_cm2
    regions = []
    near = 0.0
    for bbox, pixels in components(unreadable):
        area = float(pixels.sum()) * pixel_area
        if area >= min_area:
            regions.append((area, bbox))
        else:
            near = max(near, area / min_area)
    if not regions:
        result.near_miss = min(near, 0.99)
        return result
    regions.sort(key=lambda item: -item[0])
    total = sum(area for area, _ in regions)
    area, bbox = regions[0]
    r0, c0, r1, c1 = bbox
    score = min(0.99, 0.5 + 0.5 * (1.0 - math.exp(-total / (10.0 * min_area))))
    result.reasons.append(Reason(
        CODE, "high" if total >= 10 * min_area else "medium",
        f"the beam cannot read {total:,.0f} cm² of the cargo ({len(regions)} region(s); largest "
        f"{(c1 - c0) * inp.column_pitch_mm / 10:.0f} × {(r1 - r0) * inp.row_height_mm / 10:.0f} cm): "
        "anything could hide there",
        score,
    ))
    for area, bbox in regions[:_MAX_REGIONS]:
        result.regions.append(inp.region(bbox, "impenetrable", min(0.99, 0.5 + 0.5 * (1.0 - math.exp(-area / (10.0 * min_area)))), CODE))
    return result
