"""Reason codes of the inspection contract: stable identifiers a port system routes on.

Defined once here, upstream of both the simulator (which states what a scene should
raise) and the inspection (which raises them).
"""

from __future__ import annotations

__all__ = ["REASON_CODES"]

#: Stable reason codes of ``spec/inspection-contract.md``, and ``SCAN_INCOMPLETE``: the
#: scan does not cover its container (an end or a span not read), or its samples are
#: mostly lost or saturated, or nothing is in the beam (``docs/reason-codes.md``).
REASON_CODES = (
    "DECLARED_EMPTY_NOT_EMPTY",
    "MASS_MISMATCH",
    "MATERIAL_MISMATCH",
    "UNDECLARED_HIGH_Z",
    "CONCEALMENT_ANOMALY",
    "STRUCTURE_ANOMALY",
    "UNREADABLE_REGION",
    "SCAN_INCOMPLETE",
)
