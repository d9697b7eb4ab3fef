"""ptyrax-normalized: arrays trained at unit scale, by a fixed (never trained) scale factor."""

import ptyrax_core

from ._norm import mean_l2_norm as mean_l2_norm
from ._normalized import (
    NormalizedArrayParametrization as NormalizedArrayParametrization,
    NormalizedReferencedArrayParametrization as NormalizedReferencedArrayParametrization,
)


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [NormalizedArrayParametrization, NormalizedReferencedArrayParametrization]


@ptyrax_core.hookimpl
def ptyrax_functions():
    return [mean_l2_norm]
