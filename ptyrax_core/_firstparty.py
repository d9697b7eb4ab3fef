"""Which first-party distribution provides which name.

Plain data: core never imports a plugin, but it can tell a user what to install.
"""

REGISTRY_NAMES: dict[str, tuple[str, ...]] = {
    "ptyrax-phase-only": ("phase_only",),
    "ptyrax-normalized": ("normalized", "normalized_referenced"),
    "ptyrax-outer-product": ("outer_product",),
    "ptyrax-wavelet": ("wavelet",),
    "ptyrax-binary": ("binary",),
    "ptyrax-support": ("probe_support", "band_limited"),
    "ptyrax-bounded": ("bounded_amplitude_phase",),
    "ptyrax-nonnegative": ("non_negative",),
    "ptyrax-probe-modes": ("orthogonal_modes",),
    "ptyrax-affine-scan": ("affine_positions",),
    "ptyrax-probe-relaxation": ("probe_relaxation",),
    "ptyrax-aberrations": ("aberration_probe",),
    "ptyrax-depth": ("depth_filtered",),
}
"""Distribution -> the registry names of its parametrizations."""

EXPORTS: dict[str, tuple[str, ...]] = {
    "ptyrax-phase-only": (
        "PhaseOnlyArrayParametrization",
        "phase_only_exp",
        "phase_only_exp_np",
    ),
    "ptyrax-normalized": (
        "NormalizedArrayParametrization",
        "NormalizedReferencedArrayParametrization",
        "mean_l2_norm",
    ),
    "ptyrax-outer-product": ("OuterProductArrayParametrization",),
    "ptyrax-wavelet": (
        "WaveletArrayParametrization",
        "wavelet_decompose",
        "wavelet_reconstruct",
    ),
    "ptyrax-binary": ("BinaryArrayParametrization",),
    "ptyrax-support": ("ProbeSupportArrayParametrization", "BandLimitedArrayParametrization"),
    "ptyrax-bounded": ("BoundedAmplitudePhaseArrayParametrization",),
    "ptyrax-nonnegative": ("NonNegativeArrayParametrization",),
    "ptyrax-probe-modes": ("OrthogonalModesArrayParametrization",),
    "ptyrax-affine-scan": ("AffinePositionsParameter",),
    "ptyrax-probe-relaxation": ("ProbeRelaxationParameter",),
    "ptyrax-aberrations": ("AberrationProbeArrayParametrization",),
    "ptyrax-depth": ("DepthFilteredArrayParametrization",),
}
"""Distribution -> the public names it exports (classes and helper functions)."""

OTHER_KINDS: dict[str, tuple[str, ...]] = {
    "ptyrax-reconstruct": ("cxi", "hdf5", "npy", "tiff", "zarr", "mat", "raw"),
    "ptyrax-penalties": ("l1", "l2", "total_variation", "probe_power"),
    "ptyrax-rsciio": ("rsciio",),
}
"""Distribution -> the registry names of the classes of other kinds it contributes (penalties
and readers: the kinds ptyrax-reconstruct defines)."""

LICENCES: dict[str, str] = {"ptyrax-rsciio": "GPL-3.0-or-later"}
"""Distribution -> its licence where it is not Apache-2.0 (ptyrax-rsciio imports RosettaSciIO,
GPL-3.0-or-later; nothing else depends on it)."""

COMMANDS: dict[str, str] = {
    "demo": "ptyrax-demo",
    "reconstruct": "ptyrax-reconstruct",
    "inspect": "ptyrax-reconstruct",
}
"""Subcommand of `ptyrax` -> the first-party distribution that adds it."""

_PROVIDER = {
    name: dist
    for table in (REGISTRY_NAMES, EXPORTS, OTHER_KINDS)
    for dist, names in table.items()
    for name in names
}


def provider(name: str) -> str | None:
    """The first-party distribution that provides `name`, or None."""
    return _PROVIDER.get(name)
