"""The verdict: reasons, regions, estimates and provenance, in the contract's JSON form."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nii.reasons import REASON_CODES

__all__ = [
    "REASON_CODES",
    "SEVERITIES",
    "Reason",
    "Region",
    "Verdict",
    "combine_scores",
]

SEVERITIES = ("low", "medium", "high")
#: Prefix of each warning line under :meth:`Verdict.summary`'s first line.
WARNING_PREFIX = "  warning: "


@dataclass(frozen=True)
class Reason:
    """Why a scan needs inspecting.

    Parameters
    ----------
    code : str
        One of :data:`REASON_CODES` (or a learned model's own code).
    severity : str
        ``"low"``, ``"medium"`` or ``"high"``.
    message : str
        Plain words with figures, for an officer.
    score : float
        Strength of the evidence, 0..1 (not part of the contract's reason object;
        it feeds the verdict's score).
    """

    code: str
    severity: str
    message: str
    score: float = 0.5

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the contract's reason object."""
        return {"code": self.code, "severity": self.severity, "message": self.message}


@dataclass(frozen=True)
class Region:
    """A box of the analysed image that supports a reason.

    Parameters
    ----------
    bbox : tuple of int
        ``(row0, col0, row1, col1)``, half-open, pixels of the analysed image.
    bbox_mm : tuple of float
        ``(z0, x0, z1, x1)``: z in mm down from the image top at the scan plane,
        x the conveyance position (mm) as the scanner records it.
    material : str
        Class name of the region's dominant material.
    score : float
        Strength of the evidence, 0..1.
    reason : str
        The reason code it supports.
    """

    bbox: tuple[int, int, int, int]
    bbox_mm: tuple[float, float, float, float]
    material: str
    score: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return the contract's region object."""
        return {
            "bbox": [int(v) for v in self.bbox],
            "bbox_mm": [round(float(v), 1) for v in self.bbox_mm],
            "material": self.material,
            "score": round(float(self.score), 3),
            "reason": self.reason,
        }


def combine_scores(scores: Iterable[float]) -> float:
    """Combine independent pieces of evidence: ``1 − Π(1 − s)``, clipped to 0..1.

    Examples
    --------
    >>> combine_scores([0.5, 0.5])
    0.75
    """
    remaining = 1.0
    for score in scores:
        remaining *= 1.0 - min(max(float(score), 0.0), 1.0)
    return 1.0 - remaining


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class Verdict:
    """The outcome of inspecting one scan against its manifest.

    Parameters
    ----------
    scan_id : str
        The scan's id (NXR header).
    reasons : sequence of Reason
        Raised reasons; the verdict is ``inspect`` iff there is one.
    regions : sequence of Region
        Supporting regions.
    cargo_mass_kg : float or None
        Estimated cargo mass (kg).
    material_fractions : dict of str to float
        Estimated cargo mass share by class name.
    provenance : dict
        ``input_sha256``, ``calibration``, ``software``, ``models``.
    near_miss : float
        Largest sub-threshold evidence (0..1) when no reason is raised; it makes the
        score of a clear scan say how close it came.
    warnings : sequence of str
        Non-fatal problems (unknown HS codes, dropped pulses...).
    coverage : Coverage or None
        How much of its container the scan read (:mod:`nii.inspection.coverage`); not
        part of the JSON (its findings are in ``reasons`` and ``warnings``).
    """

    scan_id: str
    reasons: Sequence[Reason]
    regions: Sequence[Region]
    cargo_mass_kg: float | None
    material_fractions: Mapping[str, float]
    provenance: Mapping[str, Any]
    near_miss: float = 0.0
    warnings: Sequence[str] = field(default_factory=tuple)
    coverage: Any = field(default=None, compare=False, repr=False)

    @property
    def verdict(self) -> str:
        """``"inspect"`` when any reason is raised, ``"clear"`` otherwise."""
        return "inspect" if self.reasons else "clear"

    @property
    def score(self) -> float:
        """How strongly the scan departs from its declaration, 0..1.

        With reasons: ``1 − Π(1 − s)`` of their scores (at least 0.5). Without: half
        the largest sub-threshold evidence (below 0.5).
        """
        if self.reasons:
            return max(0.5, combine_scores(reason.score for reason in self.reasons))
        return min(0.49, 0.5 * min(max(self.near_miss, 0.0), 1.0))

    @property
    def reason_codes(self) -> tuple[str, ...]:
        """Codes of the raised reasons, in order."""
        return tuple(reason.code for reason in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as the contract's JSON object (plus ``warnings``)."""
        mass = self.cargo_mass_kg
        return {
            "scan_id": self.scan_id,
            "verdict": self.verdict,
            "score": round(self.score, 3),
            "reasons": [reason.to_dict() for reason in self.reasons],
            "regions": [region.to_dict() for region in self.regions],
            "estimates": {
                "cargo_mass_kg": None if mass is None or not math.isfinite(mass) else round(float(mass), 1),
                "material_fractions": {
                    name: round(float(share), 3) for name, share in self.material_fractions.items()
                },
            },
            "provenance": {key: _json_number(value) for key, value in self.provenance.items()},
            "warnings": list(self.warnings),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return :meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False) + "\n"

    def summary(self) -> str:
        """For a terminal: one line (verdict, score, reason codes, mass estimate), then the warnings.

        Each warning follows on a line of its own, prefixed ``  warning: ``, so that
        the officer reads what was not checked or not read next to the verdict.

        Examples
        --------
        >>> print(Verdict("S1", (), (), None, {}, {}, warnings=("cargo mass not checked: no gross mass",)).summary())
        S1: CLEAR (score 0.00; no reason; cargo ≈ n/a)
          warning: cargo mass not checked: no gross mass
        """
        mass = self.cargo_mass_kg
        mass_text = "n/a" if mass is None or not math.isfinite(mass) else f"{mass:,.0f} kg"
        codes = ", ".join(dict.fromkeys(self.reason_codes)) if self.reasons else "no reason"
        line = f"{self.scan_id}: {self.verdict.upper()} (score {self.score:.2f}; {codes}; cargo ≈ {mass_text})"
        notes = [" ".join(str(warning).split()) for warning in self.warnings]
        return "\n".join([line, *(f"{WARNING_PREFIX}{note}" for note in notes if note)])
