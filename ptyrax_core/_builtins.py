"""Core's own parametrizations, registered through the same hooks as any plugin's."""

from ._array import DirectArrayParametrization, as_direct_array_parametrization
from ._index import IndexSliceParameter
from .hookspecs import hookimpl


@hookimpl
def ptyrax_parametrizations():
    return [DirectArrayParametrization, IndexSliceParameter]


@hookimpl
def ptyrax_functions():
    return [as_direct_array_parametrization]


@hookimpl
def ptyrax_examples():
    import jax.numpy as jnp

    grid = jnp.linspace(-1.0, 1.0, 12).reshape(3, 4)
    return [
        DirectArrayParametrization(grid),
        DirectArrayParametrization(jnp.exp(1j * grid)),
        DirectArrayParametrization(DirectArrayParametrization(grid)),
        IndexSliceParameter(jnp.arange(10.0).reshape(5, 2)),
        IndexSliceParameter({"shift": grid, "defocus": DirectArrayParametrization(grid[:, 0])}),
    ]
