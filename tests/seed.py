"""Every name of the API document, ../shared/seed/ptyrax-parametrizations-api.txt."""

SEED_NAMES = (
    "as_direct_array_parametrization", "mean_l2_norm", "phase_only_exp", "phase_only_exp_np",
    "resolve_array_parametrizations", "resolve_index_dependent_parameters",
    "resolve_index_dependent_parameters_all", "resolve_parametrizations",
    "ArrayParametrization", "BinaryArrayParametrization", "BoundSliceParameter",
    "DirectArrayParametrization", "IndexDependentParameter", "IndexSliceParameter",
    "NormalizedArrayParametrization", "NormalizedReferencedArrayParametrization",
    "OuterProductArrayParametrization", "PhaseOnlyArrayParametrization",
    "WaveletArrayParametrization",
)  # fmt: skip
