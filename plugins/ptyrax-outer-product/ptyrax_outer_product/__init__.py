"""ptyrax-outer-product: low-rank arrays, a sum of `n_outer` outer products of trained vectors."""

import ptyrax_core

from ._outer_product import OuterProductArrayParametrization as OuterProductArrayParametrization


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [OuterProductArrayParametrization]
