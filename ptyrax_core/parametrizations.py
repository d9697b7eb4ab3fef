"""The API document's module face: every name of `ptyrax.parametrizations`, in one place.

Core's names are defined here directly. Names that plugins provide (such as
`PhaseOnlyArrayParametrization` or `phase_only_exp`) are looked up in the registry on first
access, which imports the one plugin that declares the name; a first-party name whose
distribution is not installed raises `MissingPluginError`, which names the distribution to
install. `dir()` lists what is available, importing no plugin.

Example:
    >>> from ptyrax_core import parametrizations as P
    >>> P.DirectArrayParametrization is P.registry.get("direct")
    True
"""

from typing import Any

from . import registry
from ._array import (
    ArrayParametrization,
    DirectArrayParametrization,
    as_direct_array_parametrization,
)
from ._errors import MissingPluginError
from ._firstparty import provider
from ._index import BoundSliceParameter, IndexDependentParameter, IndexSliceParameter
from ._resolve import (
    resolve_array_parametrizations,
    resolve_index_dependent_parameters,
    resolve_index_dependent_parameters_all,
    resolve_parametrizations,
)

__all__ = [
    "ArrayParametrization",
    "BoundSliceParameter",
    "DirectArrayParametrization",
    "IndexDependentParameter",
    "IndexSliceParameter",
    "as_direct_array_parametrization",
    "resolve_array_parametrizations",
    "resolve_index_dependent_parameters",
    "resolve_index_dependent_parameters_all",
    "resolve_parametrizations",
]


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    obj = registry._export(name)
    if obj is not None:
        return obj
    kind = registry.kind_of(name)
    if kind is not None:  # a registry name, not a public name
        raise AttributeError(
            f"{name!r} is the registry name of a class of the kind {kind}, not a name this "
            f"module exports: ptyrax_core.registry.get({name!r}, {kind!r}) returns the class"
        )
    dist = provider(name)
    if dist is not None:
        raise MissingPluginError(
            f"{name} is provided by the distribution {dist}, which is not installed or failed "
            f"to load (see `ptyrax plugins`): pip install {dist}",
            name=name,
        )
    raise AttributeError(
        f"module {__name__!r} has no attribute {name!r}; available: {', '.join(__dir__())}."
    )


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(registry._export_names()))
