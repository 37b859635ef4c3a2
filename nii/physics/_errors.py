"""Error type of :mod:`nii.physics` for requests outside the physics it models."""

from __future__ import annotations

from nii.errors import NiiError

__all__ = ["PhysicsError"]


class PhysicsError(NiiError, ValueError):
    """A physics request is out of range or malformed.

    Raised, for example, for a photon energy outside the cross-section tables
    (1 keV to 50 MeV), an unknown element symbol, or arrays whose shapes do not
    match the beam's energy grid.
    """
