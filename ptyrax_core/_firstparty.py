"""Which first-party distribution provides which public name.

Plain data: core never imports a plugin, but it can tell a user what to install.
"""

DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "ptyrax-phase-only": (
        "phase_only",
        "PhaseOnlyArrayParametrization",
        "phase_only_exp",
        "phase_only_exp_np",
    ),
    "ptyrax-normalized": (
        "normalized",
        "normalized_referenced",
        "NormalizedArrayParametrization",
        "NormalizedReferencedArrayParametrization",
        "mean_l2_norm",
    ),
    "ptyrax-outer-product": ("outer_product", "OuterProductArrayParametrization"),
    "ptyrax-wavelet": ("wavelet", "WaveletArrayParametrization"),
    "ptyrax-binary": ("binary", "BinaryArrayParametrization"),
}

_PROVIDER = {name: dist for dist, names in DISTRIBUTIONS.items() for name in names}


def provider(name: str) -> str | None:
    """The first-party distribution that provides `name`, or None."""
    return _PROVIDER.get(name)
