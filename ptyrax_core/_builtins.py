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
