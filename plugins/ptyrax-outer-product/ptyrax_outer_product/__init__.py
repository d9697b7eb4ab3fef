"""ptyrax-outer-product: low-rank arrays, a sum of `n_outer` outer products of trained vectors."""

import ptyrax_core

from ._outer_product import OuterProductArrayParametrization as OuterProductArrayParametrization


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [OuterProductArrayParametrization]


@ptyrax_core.hookimpl
def ptyrax_examples():
    import jax

    key = jax.random.PRNGKey(0)
    return [
        OuterProductArrayParametrization((5, 4, 2), 2, lambda s: jax.random.normal(key, s)),
        OuterProductArrayParametrization((3, 5, 4, 1), 1),
    ]
