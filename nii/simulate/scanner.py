"""The simulated scanner: every setting of the synthetic line scanner in one object.

:class:`ScannerConfig` is a frozen description of a fixed-site, dual-energy linac
cargo scanner in the style of the Nuctech H986 / Varian Mi6 class (6/3 MeV
interlaced, a vertical column of 1,024 CdWO4 channels). The defaults are chosen to be
plausible, not to copy any one vendor:

=====================  =====================  ==========================================
setting                default                why
=====================  =====================  ==========================================
energies               6 and 3 MeV            the common 6/3 (Mi6: 6/3.5) interlaced pair
pulse rate             400 Hz in all          fielded linacs run 200–400 Hz
speed                  0.64 m/s               a 40 ft container in ~20 s, ~8,000 pulses
channels × pitch       1,024 × 5.6 mm         4.30 m at the scan plane (4.2 mm rows): a
                                              high-cube on a trailer
geometry               SDD 10 m, SOD 7.5 m    the NXR spec's example; magnification 4/3
photons in air         4e5 / 1.5e5            detected photons per channel per pulse
air level              52,000 ADU             leaves head room for gain spread and dose jitter
dark level             1,000 ± 150 ADU        per-channel offset
electronic noise       1.5 ADU                dynamic range ~ 3.5e4 : 1 at 16 bits
dose jitter            2 % pulse to pulse     with a 1 % slow drift; monitor noise 0.1 %
scatter                5e-5 of attenuated     bounded by :data:`MAX_SCATTER_FRACTION`
spectrum               W target, filtration   :mod:`nii.physics` defaults (docs/spectrum.md)
detector               30 mm CdWO4            the usual MeV cargo scintillator
sub-rays per pixel     4 rows × 2 columns     1.05 × 1.6 mm spacing: every edge-on
                                              container sheet (≥ 1.6 mm) meets a sub-ray
=====================  =====================  ==========================================

Small scans for tests come from :meth:`ScannerConfig.scaled`, which keeps the height
covered at the scan plane by enlarging the pitch when there are fewer channels.

The spectrum and the detector (:data:`HIDDEN_SETTINGS`: target, filtration, crystal) are
never written to an NXR header (:meth:`ScannerConfig.header_dict`): the NXR spec has no
field for them, and a calibration has to measure the scanner's spectrum from its wedges,
not read it. Scanner families other than the default come from
:mod:`nii.simulate.variants`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nii.errors import SimulationError
from nii.grid import row_height_mm

__all__ = ["ScannerConfig", "MAX_SCATTER_FRACTION", "SAMPLE_DTYPES", "HIDDEN_SETTINGS"]

#: Upper bound of the forward-scatter fraction (scatter signal per unit of attenuated
#: air signal). Collimated MeV line detectors see far less; above this the model
#: (a broad blur of the removed fluence) would no longer be a small correction.
MAX_SCATTER_FRACTION = 0.01

#: Sample types of the NXR format and their full scale.
SAMPLE_DTYPES: dict[str, float] = {"uint16": 65535.0, "uint32": 4294967295.0, "float32": math.inf}

#: Settings that describe the true spectrum and detector response: kept out of the
#: NXR header (the spec has no field for them; the calibration must measure them).
HIDDEN_SETTINGS = frozenset({"target_material", "target_thickness_mm", "filtration",
                             "detector_material", "detector_depth_mm"})


def _default_filtration() -> tuple[tuple[str, float], ...]:
    from nii.physics._spectra import DEFAULT_FILTRATION

    return tuple((str(m), float(t)) for m, t in DEFAULT_FILTRATION)


@dataclass(frozen=True)
class ScannerConfig:
    """Settings of the simulated dual-energy line scanner.

    Parameters
    ----------
    scanner_id : str
        Identifier written to the NXR header (``scanner_id``).
    channels : int
        Number of detector channels (rows of the image).
    pitch_mm : float
        Channel pitch at the detector, mm.
    first_channel : {"top", "bottom"}
        Where detector channel 0 sits.
    energies_mev : tuple of float
        Nominal linac endpoint energies, MeV, highest first; pulses cycle through them.
    pulse_rate_hz : float
        Linac pulse rate of all energies together, Hz.
    nominal_speed_mps : float
        Mean conveyance speed, m/s. Ignored when ``pulses`` is set.
    pulses : int or None
        Total number of pulses of a scan (references included). When set, the mean
        speed is chosen so that the object and its margins fill the object pulses.
    speed_variation : float
        Largest relative departure of the speed from its mean (a smoothed random walk).
    speed_correlation_s : float
        Correlation time of the speed variation, s.
    encoder_resolution_mm : float
        Quantisation step of the position encoder, mm.
    source_to_detector_mm, source_to_object_mm : float
        Fan-beam geometry, mm (the object distance is to the scan plane).
    dark_pulses, air_pulses : int
        Reference records per energy at the start of the scan (beam off, then beam on
        with nothing in the beam).
    margin_mm : float
        Air travelled before the object enters and after it leaves the beam, mm.
    photons_air : tuple of float
        Detected photons per channel per pulse in air, per energy (sets quantum noise).
    air_level_adu : float
        Mean net signal (above dark) of a nominal-gain channel in air, ADU.
    dark_level_adu, dark_spread_adu : float
        Mean and per-channel standard deviation of the dark offset, ADU.
    gain_spread : float
        Relative standard deviation of the per-channel gain (clipped at 3 sigma).
    electronic_noise_adu : float
        Standard deviation of the electronic (read) noise, ADU.
    dose_jitter : float
        Relative standard deviation of the linac output from pulse to pulse.
    dose_drift : float
        Largest relative slow drift of the linac output over a scan.
    dose_drift_s : float
        Correlation time of that drift, s.
    dose_monitor_level : float
        Dose monitor reading of a nominal high-energy pulse, arbitrary units.
    dose_monitor_noise : float
        Relative standard deviation of the dose monitor's own noise.
    dead_channels, noisy_channels : int
        Numbers of dead channels (dark offset and read noise only) and noisy channels
        (read noise ``noisy_factor`` times larger), placed at random.
    noisy_factor : float
        Read-noise multiplier of a noisy channel.
    blur_channels : float
        Standard deviation of the detector blur across channels, in channel pitches.
    blur_mm : float
        Standard deviation of the blur along the conveyance, mm at the scan plane.
    scatter_fraction : float
        Forward scatter: signal added per unit of attenuated air signal, spread by a
        broad Gaussian (at most :data:`MAX_SCATTER_FRACTION`).
    scatter_sigma_mm : float
        Width (standard deviation) of the scatter spread at the scan plane, mm.
    sample_dtype : {"uint16", "uint32", "float32"}
        Sample type of the NXR records.
    saturation : float or None
        ADC full scale, ADU; ``None`` is the sample type's full scale.
    detector_material : str
        Scintillator of the detector (a material of ``seeds/materials.toml``).
    detector_depth_mm : float
        Scintillator depth along the beam, mm.
    target_material : str
        Bremsstrahlung target of the linac (catalogue name or element symbol).
    target_thickness_mm : float or None
        Target thickness, mm; ``None`` is the physics default
        (:func:`nii.physics.linac_spectrum`).
    filtration : tuple of (str, float)
        Filters after the target (material, thickness in mm), in beam order; the
        default is the physics default (:data:`nii.physics._spectra.DEFAULT_FILTRATION`).
    subray_rows, subray_columns : int
        Point rays per pixel across the channels and along the conveyance whose
        *transmissions* are averaged into the pixel's (a detector pixel records the
        mean of ``exp(−μL)`` over its aperture, not ``exp(−μ·mean L)``). The default
        4 × 2 puts sub-rays 1.05 mm apart across the 4.2 mm rows and 1.6 mm apart along
        the 3.2 mm columns of the default scanner: a 1.6 mm roof sheet or a 2 mm wall
        seen edge-on always meets at least one of them. Cost grows with the product.
    started_at : str
        ISO 8601 UTC time written as ``started_at`` (from the configuration, never the
        clock, so that files are reproducible).
    """

    scanner_id: str = "nii-sim-h986"
    channels: int = 1024
    pitch_mm: float = 5.6
    first_channel: str = "top"
    energies_mev: tuple[float, ...] = (6.0, 3.0)
    pulse_rate_hz: float = 400.0
    nominal_speed_mps: float = 0.64
    pulses: int | None = None
    speed_variation: float = 0.03
    speed_correlation_s: float = 1.0
    encoder_resolution_mm: float = 0.1
    source_to_detector_mm: float = 10000.0
    source_to_object_mm: float = 7500.0
    dark_pulses: int = 16
    air_pulses: int = 32
    margin_mm: float = 300.0
    photons_air: tuple[float, ...] = (4.0e5, 1.5e5)
    air_level_adu: float = 52000.0
    dark_level_adu: float = 1000.0
    dark_spread_adu: float = 150.0
    gain_spread: float = 0.03
    electronic_noise_adu: float = 1.5
    dose_jitter: float = 0.02
    dose_drift: float = 0.01
    dose_drift_s: float = 2.0
    dose_monitor_level: float = 1000.0
    dose_monitor_noise: float = 0.001
    dead_channels: int = 2
    noisy_channels: int = 3
    noisy_factor: float = 15.0
    blur_channels: float = 0.5
    blur_mm: float = 2.0
    scatter_fraction: float = 5.0e-5
    scatter_sigma_mm: float = 300.0
    sample_dtype: str = "uint16"
    saturation: float | None = None
    detector_material: str = "CdWO4"
    detector_depth_mm: float = 30.0
    target_material: str = "W"
    target_thickness_mm: float | None = None
    filtration: tuple[tuple[str, float], ...] = dataclasses.field(default_factory=_default_filtration)
    subray_rows: int = 4
    subray_columns: int = 2
    started_at: str = "2026-11-30T08:00:00Z"

    def __post_init__(self) -> None:
        object.__setattr__(self, "energies_mev", tuple(float(e) for e in self.energies_mev))
        object.__setattr__(self, "photons_air", tuple(float(p) for p in self.photons_air))
        try:
            filtration = tuple((str(m), float(t)) for m, t in self.filtration)
        except (TypeError, ValueError) as exc:
            raise SimulationError(
                f"scanner configuration: filtration must be (material, thickness_mm) pairs, got "
                f"{self.filtration!r}") from exc
        object.__setattr__(self, "filtration", filtration)
        if self.target_thickness_mm is not None:
            object.__setattr__(self, "target_thickness_mm", float(self.target_thickness_mm))
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`~nii.errors.SimulationError` when a setting is impossible."""

        def need(condition: bool, text: str) -> None:
            if not condition:
                raise SimulationError(f"scanner configuration: {text}")

        need(isinstance(self.channels, int) and 1 <= self.channels <= 65536,
             f"channels must be an integer in 1..65536, got {self.channels!r}")
        need(self.first_channel in ("top", "bottom"),
             f"first_channel must be 'top' or 'bottom', got {self.first_channel!r}")
        need(1 <= len(self.energies_mev) <= 4, "energies_mev must hold 1 to 4 energies")
        need(all(0.2 <= e <= 20.0 for e in self.energies_mev),
             f"energies_mev must lie in 0.2..20 MeV, got {list(self.energies_mev)}")
        need(list(self.energies_mev) == sorted(self.energies_mev, reverse=True)
             and len(set(self.energies_mev)) == len(self.energies_mev),
             "energies_mev must be distinct and highest first")
        need(len(self.photons_air) == len(self.energies_mev),
             "photons_air needs one value per energy")
        need(all(1.0 <= p <= 1e9 for p in self.photons_air),
             "photons_air must lie in 1..1e9 photons per channel per pulse")
        for name in ("pitch_mm", "pulse_rate_hz", "nominal_speed_mps", "encoder_resolution_mm",
                     "source_to_detector_mm", "source_to_object_mm", "air_level_adu",
                     "dose_monitor_level", "noisy_factor", "detector_depth_mm", "dose_drift_s",
                     "scatter_sigma_mm"):
            value = getattr(self, name)
            need(isinstance(value, (int, float)) and math.isfinite(value) and value > 0,
                 f"{name} must be a positive number, got {value!r}")
        for name in ("speed_variation", "speed_correlation_s", "margin_mm", "dark_level_adu",
                     "dark_spread_adu", "gain_spread", "electronic_noise_adu", "dose_jitter",
                     "dose_drift", "dose_monitor_noise", "blur_channels", "blur_mm",
                     "scatter_fraction"):
            value = getattr(self, name)
            need(isinstance(value, (int, float)) and math.isfinite(value) and value >= 0,
                 f"{name} must be a non-negative number, got {value!r}")
        need(self.source_to_object_mm < self.source_to_detector_mm,
             "source_to_object_mm must be less than source_to_detector_mm")
        need(self.speed_variation <= 0.2, "speed_variation above 0.2 (20 %) is not a conveyor")
        need(self.gain_spread <= 0.2, "gain_spread must be at most 0.2")
        need(self.dose_jitter <= 0.2 and self.dose_drift <= 0.2,
             "dose_jitter and dose_drift must be at most 0.2")
        need(self.scatter_fraction <= MAX_SCATTER_FRACTION,
             f"scatter_fraction must be at most {MAX_SCATTER_FRACTION}")
        need(self.sample_dtype in SAMPLE_DTYPES,
             f"sample_dtype must be one of {sorted(SAMPLE_DTYPES)}, got {self.sample_dtype!r}")
        need(self.saturation is None or (self.saturation > 0 and
                                         self.saturation <= SAMPLE_DTYPES[self.sample_dtype]),
             "saturation must be positive and within the sample type's range")
        need(isinstance(self.dark_pulses, int) and isinstance(self.air_pulses, int)
             and 1 <= self.dark_pulses <= 10000 and 1 <= self.air_pulses <= 10000,
             "dark_pulses and air_pulses must be integers in 1..10000")
        need(self.pulses is None or (isinstance(self.pulses, int)
                                     and self.reference_pulses + 2 * len(self.energies_mev)
                                     <= self.pulses <= 2_000_000),
             f"pulses must be an integer from {self.reference_pulses + 2 * len(self.energies_mev)}"
             f" to 2000000, got {self.pulses!r}")
        need(isinstance(self.dead_channels, int) and isinstance(self.noisy_channels, int)
             and 0 <= self.dead_channels and 0 <= self.noisy_channels
             and self.dead_channels + self.noisy_channels <= self.channels // 4,
             "dead_channels + noisy_channels must be non-negative and at most a quarter of the channels")
        need(all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 16
                 for n in (self.subray_rows, self.subray_columns)),
             f"subray_rows and subray_columns must be integers in 1..16, got "
             f"{self.subray_rows!r} and {self.subray_columns!r}")
        need(self.full_scale_adu > self.dark_level_adu + 4 * self.dark_spread_adu,
             "the dark level must sit well below the ADC full scale")
        need(all(math.isfinite(t) and 0.0 <= t <= 100.0 for _, t in self.filtration),
             f"filter thicknesses must lie in 0..100 mm, got {list(self.filtration)}")
        need(self.target_thickness_mm is None
             or (math.isfinite(self.target_thickness_mm) and 0.0 < self.target_thickness_mm <= 20.0),
             f"target_thickness_mm must lie in (0, 20] mm or be None, got {self.target_thickness_mm!r}")
        need(isinstance(self.target_material, str) and bool(self.target_material),
             "target_material must be a material name or element symbol")

    # ------------------------------------------------------------- derived
    @property
    def energy_count(self) -> int:
        """Number of interlaced energies."""
        return len(self.energies_mev)

    @property
    def reference_pulses(self) -> int:
        """Number of DARK and AIR records at the start of a scan, all energies together."""
        return (self.dark_pulses + self.air_pulses) * len(self.energies_mev)

    @property
    def full_scale_adu(self) -> float:
        """ADC full scale (saturation value), ADU."""
        if self.saturation is not None:
            return float(self.saturation)
        full = SAMPLE_DTYPES[self.sample_dtype]
        return full if math.isfinite(full) else 1.0e9

    @property
    def row_height_mm(self) -> float:
        """Height of one image row at the scan plane, mm (pitch × SOD / SDD)."""
        return row_height_mm(self.pitch_mm, self.source_to_object_mm, self.source_to_detector_mm)

    @property
    def coverage_mm(self) -> float:
        """Height covered by all channels at the scan plane, mm."""
        return self.row_height_mm * self.channels

    def replace(self, **changes: Any) -> ScannerConfig:
        """Return a copy with some settings changed (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise SimulationError(f"scanner configuration: unknown setting(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def scaled(self, channels: int | None = None, pulses: int | None = None) -> ScannerConfig:
        """Return a copy with fewer (or more) channels covering the same height.

        Parameters
        ----------
        channels : int, optional
            New channel count; the pitch (mm) grows so that ``channels × pitch`` stays
            the same. Dead and noisy channel counts shrink in proportion.
        pulses : int, optional
            Total pulse count of a scan (see ``pulses``).

        Returns
        -------
        ScannerConfig
        """
        changes: dict[str, Any] = {}
        if channels is not None:
            if not isinstance(channels, int) or not 1 <= channels <= 65536:
                raise SimulationError(f"scanner configuration: channels must be 1..65536, got {channels!r}")
            ratio = channels / self.channels
            changes["channels"] = channels
            changes["pitch_mm"] = self.pitch_mm / ratio
            changes["dead_channels"] = min(int(round(self.dead_channels * ratio)), channels // 8)
            changes["noisy_channels"] = min(max(int(round(self.noisy_channels * ratio)),
                                                1 if self.noisy_channels and channels >= 16 else 0),
                                            channels // 8)
        if pulses is not None:
            changes["pulses"] = pulses
        return self.replace(**changes)

    # ---------------------------------------------------------- (de)serialise
    @property
    def spectrum_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`nii.physics.linac_spectrum` for this scanner's source."""
        return {"target": self.target_material, "target_thickness_mm": self.target_thickness_mm,
                "filtration": self.filtration}

    def to_dict(self) -> dict[str, Any]:
        """Return every setting as a JSON-ready dict (ground truth, suite index)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["energies_mev"] = list(self.energies_mev)
        out["photons_air"] = list(self.photons_air)
        out["filtration"] = [[m, t] for m, t in self.filtration]
        return out

    def header_dict(self) -> dict[str, Any]:
        """Return the settings an NXR header may carry (extensions): all but :data:`HIDDEN_SETTINGS`."""
        return {k: v for k, v in self.to_dict().items() if k not in HIDDEN_SETTINGS}

    @classmethod
    def from_dict(cls, settings: Mapping[str, Any], base: ScannerConfig | None = None) -> ScannerConfig:
        """Build a configuration from a mapping of settings (e.g. a suite's ``[scanner]`` table).

        Parameters
        ----------
        settings : mapping
            Setting names and values; ``channels`` alone rescales the pitch as
            :meth:`scaled` does unless ``pitch_mm`` is also given.
        base : ScannerConfig, optional
            Configuration the settings change (default: the defaults).

        Returns
        -------
        ScannerConfig
        """
        base = base or cls()
        settings = dict(settings)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(settings) - known
        if unknown:
            raise SimulationError(f"scanner configuration: unknown setting(s) {sorted(unknown)}")
        if "filtration" in settings:
            value = settings["filtration"]
            if not isinstance(value, (list, tuple)) or not all(
                    isinstance(e, (list, tuple)) and len(e) == 2 for e in value):
                raise SimulationError(
                    "scanner configuration: filtration must be a list of [material, thickness_mm] pairs")
            settings["filtration"] = tuple((str(m), t) for m, t in value)
        for name in ("energies_mev", "photons_air"):
            if name in settings:
                value = settings[name]
                if not isinstance(value, (list, tuple)):
                    raise SimulationError(f"scanner configuration: {name} must be a list of numbers")
                settings[name] = tuple(value)
        if "channels" in settings and "pitch_mm" not in settings:
            base = base.scaled(channels=settings.pop("channels"))
        try:
            return dataclasses.replace(base, **settings)
        except TypeError as exc:  # pragma: no cover - guarded by the name check above
            raise SimulationError(f"scanner configuration: {exc}") from exc
