"""Scanner variants: a family of simulated gantries that are not the default scanner.

A calibration or a discrimination tuned on the default scanner alone learns its
spectrum, its detector and its noise. The variants change what a real fleet changes:
the filtration after the target (tungsten-equivalent and copper, mm), the detector
crystal (CdWO4, CsI) and its depth, the photon budget of each energy, the channel count
and row height, which end channel 0 sits at, the scatter, blur, gain spread, read noise
and dose jitter, and the energy pair (6/3, 9/6, 8/4 MeV).

They come in two disjoint splits, ``"tune"`` (thresholds may be fixed on it) and
``"test"`` (never used for tuning), drawn reproducibly from the ranges of
``seeds/scanner_variants.toml`` (each range with its source; one seed per split), plus
fixed variants named there: the issue's peer gantry (384 channels at 7.5 mm rows,
CdWO4, at 6/3 and at 9/6 MeV) with its own wedges and test blocks (its *suite set*).

The spectrum and detector of a variant are never written to the NXR header
(:data:`nii.simulate.scanner.HIDDEN_SETTINGS`): a calibration has to measure them.

Examples
--------
>>> from nii.simulate.variants import scanner_variants
>>> tune = scanner_variants("tune")
>>> test = scanner_variants("test")
>>> {v.name for v in tune}.isdisjoint(v.name for v in test)
True
>>> sorted({v.energy_pair for v in tune})
['6/3', '8/4', '9/6']
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from nii.errors import CatalogueError, SimulationError
from nii.simulate.scanner import ScannerConfig

__all__ = [
    "SPLITS",
    "ENERGY_PAIRS",
    "ScannerVariant",
    "scanner_variants",
    "scanner_variant",
    "variant_names",
]

#: The two splits of the family.
SPLITS = ("tune", "test")
#: Energy pairs a variant may have and their nominal endpoints, MeV (highest first).
ENERGY_PAIRS: dict[str, tuple[float, float]] = {"6/3": (6.0, 3.0), "9/6": (9.0, 6.0), "8/4": (8.0, 4.0)}

_SEEDS_FILE = "scanner_variants.toml"


@dataclass(frozen=True)
class ScannerVariant:
    """One simulated scanner of the family.

    Attributes
    ----------
    name : str
        Identifier (``tune-00`` … or a fixed variant's name such as ``peer-384-63``).
    config : ScannerConfig
        The full scanner: geometry, detector, spectrum, photon budget, noise.
    energy_pair : str
        ``"6/3"``, ``"9/6"`` or ``"8/4"`` (the endpoints of ``config.energies_mev``).
    split : str
        ``"tune"`` or ``"test"``.
    suite_set : str or None
        Name of the suite set (``[suite_sets.NAME]`` of the seeds file) whose scans
        replace those of the suites it names when they are simulated for this variant
        (the peer gantry's own wedges and test blocks); ``None``: the suites as they are.
    """

    name: str
    config: ScannerConfig
    energy_pair: str
    split: str = "test"
    suite_set: str | None = None

    def describe(self) -> str:
        """Return a one-line description: energies, array, detector, filtration, photons."""
        c = self.config
        filters = " + ".join(f"{t:.2g} mm {m}" for m, t in c.filtration) or "no filter"
        return (f"{self.energy_pair} MeV, {c.channels} channels at {c.row_height_mm:.2g} mm rows "
                f"(first {c.first_channel}), {c.detector_depth_mm:.3g} mm {c.detector_material}, "
                f"{filters}, {c.photons_air[0]:.3g}/{c.photons_air[-1]:.3g} photons in air")

    def suite_scans(self, suite_name: str) -> dict[str, Any] | None:
        """Return the scans (``scans``/``matrix``, ``description``) replacing suite ``suite_name``, or None.

        Parameters
        ----------
        suite_name : str
            The suite's ``name`` (``"wedges"``, ``"discrimination"``).

        Returns
        -------
        dict or None
            A suite-file fragment from the variant's suite set, ``None`` when it has none
            for that suite.
        """
        if self.suite_set is None:
            return None
        sets = _seeds().get("suite_sets", {})
        entry = sets.get(self.suite_set, {}).get(suite_name)
        return copy.deepcopy(dict(entry)) if entry is not None else None


def _seeds() -> dict[str, Any]:
    return _read_seeds()


@lru_cache(maxsize=1)
def _read_seeds() -> dict[str, Any]:
    from nii.resources import read_catalogue, seed_path

    return read_catalogue(seed_path(_SEEDS_FILE), "scanner-variants file")


def _range(ranges: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    entry = ranges.get(key)
    if not isinstance(entry, Mapping):
        raise CatalogueError(f"{_SEEDS_FILE}: [ranges.{key}] is missing")
    return entry


def _uniform(rng: np.random.Generator, entry: Mapping[str, Any]) -> float:
    return float(rng.uniform(float(entry["low"]), float(entry["high"])))


def _log_uniform(rng: np.random.Generator, entry: Mapping[str, Any]) -> float:
    return float(math.exp(rng.uniform(math.log(float(entry["low"])), math.log(float(entry["high"])))))


def _draw(index: int, pair: str, split: str, rng: np.random.Generator,
          ranges: Mapping[str, Any]) -> ScannerVariant:
    """Draw one variant from the ranges (the order of the draws is part of the format)."""
    base = ScannerConfig()
    energies = tuple(float(e) for e in _range(ranges, "energies_mev")[pair])
    high = _log_uniform(rng, _range(ranges, "photons_air_high"))
    ratio = _uniform(rng, _range(ranges, "photons_ratio_low"))
    tungsten = round(_uniform(rng, _range(ranges, "tungsten_mm")), 2)
    copper = round(_uniform(rng, _range(ranges, "copper_mm")), 2)
    detector = _range(ranges, "detector")
    weights = np.asarray(detector["weights"], dtype=np.float64)
    crystal = str(detector["choices"][int(rng.choice(len(weights), p=weights / weights.sum()))])
    depth = round(_uniform(rng, _range(ranges, "detector_depth_mm")[crystal]), 1)
    arrays = _range(ranges, "array")["choices"]
    channels, row_mm = arrays[int(rng.integers(len(arrays)))]
    pitch = float(row_mm) * base.source_to_detector_mm / base.source_to_object_mm
    first = str(rng.choice(_range(ranges, "first_channel")["choices"]))
    scatter = _log_uniform(rng, _range(ranges, "scatter_fraction"))
    blur = _uniform(rng, _range(ranges, "blur_channels"))
    gain = _uniform(rng, _range(ranges, "gain_spread"))
    read = _uniform(rng, _range(ranges, "electronic_noise_adu"))
    jitter = _uniform(rng, _range(ranges, "dose_jitter"))
    name = f"{split}-{index:02d}"
    filtration = tuple((m, t) for m, t in (("copper", copper), ("tungsten", tungsten)) if t > 0.0)
    config = base.replace(
        scanner_id=f"nii-sim-{name}", energies_mev=energies,
        photons_air=(round(high, -3), round(high * ratio, -3)), filtration=filtration,
        detector_material=crystal, detector_depth_mm=depth, channels=int(channels),
        pitch_mm=round(pitch, 4), first_channel=first, scatter_fraction=float(f"{scatter:.3g}"),
        blur_channels=round(blur, 3), gain_spread=round(gain, 4),
        electronic_noise_adu=round(read, 2), dose_jitter=round(jitter, 4),
        dead_channels=max(1, int(channels) // 512), noisy_channels=max(1, int(channels) // 340))
    return ScannerVariant(name, config, pair, split, None)


def _fixed(name: str, split: str, table: Mapping[str, Any]) -> ScannerVariant:
    pair = str(table.get("energy_pair", "6/3"))
    if pair not in ENERGY_PAIRS:
        raise CatalogueError(f"{_SEEDS_FILE}: [fixed.{name}] energy_pair must be one of {list(ENERGY_PAIRS)}")
    settings = dict(table.get("scanner", {}))
    settings.setdefault("energies_mev", list(ENERGY_PAIRS[pair]))
    settings.setdefault("scanner_id", f"nii-sim-{name}")
    try:
        config = ScannerConfig.from_dict(settings)
    except SimulationError as exc:
        raise CatalogueError(f"{_SEEDS_FILE}: [fixed.{name}]: {exc}") from exc
    suite_set = table.get("suite_set")
    return ScannerVariant(name, config, pair, split, None if suite_set is None else str(suite_set))


@lru_cache(maxsize=4)
def _variants(split: str) -> tuple[ScannerVariant, ...]:
    seeds = _seeds()
    splits = seeds.get("splits", {})
    if split not in SPLITS or split not in splits:
        raise SimulationError(f"unknown scanner-variant split {split!r}; choose one of {', '.join(SPLITS)}")
    table = splits[split]
    ranges = seeds.get("ranges", {})
    rng = np.random.default_rng(int(table["seed"]))
    count = int(table.get("count", 0))
    pairs = list(_range(ranges, "energy_pair")["choices"])
    order = [pairs[i] for i in rng.permutation(len(pairs))]
    variants = [_draw(i, order[i % len(order)], split, rng, ranges) for i in range(count)]
    fixed = seeds.get("fixed", {})
    for name in table.get("fixed", []):
        if name not in fixed:
            raise CatalogueError(f"{_SEEDS_FILE}: split {split} names fixed variant {name!r}, which is not defined")
        variants.append(_fixed(name, split, fixed[name]))
    return tuple(variants)


def scanner_variants(split: str) -> list[ScannerVariant]:
    """Return the scanner variants of one split, reproducibly.

    Parameters
    ----------
    split : {"tune", "test"}
        ``"tune"``: the variants thresholds may be fixed on; ``"test"``: the variants
        never used for tuning. The two share no variant.

    Returns
    -------
    list of ScannerVariant
        The drawn variants (``tune-00`` …, energy pairs cycled in a seeded order), then
        the split's fixed variants.

    Raises
    ------
    SimulationError
        For an unknown split.
    """
    return list(_variants(str(split)))


def variant_names(split: str | None = None) -> list[str]:
    """Return the names of the variants of one split, or of both (tune first)."""
    splits = SPLITS if split is None else (split,)
    return [v.name for s in splits for v in _variants(s)]


def scanner_variant(name: str) -> ScannerVariant:
    """Return the variant of either split with this name.

    Raises
    ------
    SimulationError
        If no variant has the name (the message lists them).
    """
    for split in SPLITS:
        for variant in _variants(split):
            if variant.name == name:
                return variant
    raise SimulationError(f"no scanner variant {name!r}; known: {', '.join(variant_names())}")
