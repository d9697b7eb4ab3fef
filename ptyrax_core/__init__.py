"""ptyrax-core: array parametrizations for gradient-based ptychography in JAX.

Keep a model's constrained arrays as parametrizations, and resolve them into plain arrays
right before the jitted forward model runs. Concrete parametrizations come from plugins found
through the entry-point group `ptyrax` (see `ptyrax_core.registry`).
"""

import importlib
from typing import TYPE_CHECKING, Any

from . import parametrizations as parametrizations, registry as registry
from ._array import (
    ArrayParametrization as ArrayParametrization,
    DirectArrayParametrization as DirectArrayParametrization,
    as_direct_array_parametrization as as_direct_array_parametrization,
)
from ._checks import (
    HostOrDeviceArray as HostOrDeviceArray,
    as_array as as_array,
    check_index as check_index,
    initialize as initialize,
    read_target as read_target,
    static_float as static_float,
    typechecked as typechecked,
)
from ._errors import (
    CheckpointError as CheckpointError,
    MissingPluginError as MissingPluginError,
    PluginError as PluginError,
    PluginWarning as PluginWarning,
    SpecError as SpecError,
    UnknownNameError as UnknownNameError,
    UnknownParametrizationError as UnknownParametrizationError,
    UnresolvedParametrizationError as UnresolvedParametrizationError,
)
from ._index import (
    BoundSliceParameter as BoundSliceParameter,
    IndexDependentParameter as IndexDependentParameter,
    IndexSliceParameter as IndexSliceParameter,
)
from ._kinds import Kind as Kind
from ._packed import Packed as Packed, pack as pack
from ._phasor import expi as expi
from ._resolve import (
    resolve_array_parametrizations as resolve_array_parametrizations,
    resolve_index_dependent_parameters as resolve_index_dependent_parameters,
    resolve_index_dependent_parameters_all as resolve_index_dependent_parameters_all,
    resolve_parametrizations as resolve_parametrizations,
)
from ._version import __version__ as __version__

if TYPE_CHECKING:
    from . import hookspecs as hookspecs
    from ._build import build as build
    from ._checkpoint import load as load, save as save
    from .hookspecs import hookimpl as hookimpl

# Imported at first use, to keep `import ptyrax_core` short: pluggy (for hookimpl and the
# hooks, needed once a plugin loads), the spec reader and checkpoints.
_LAZY = {
    "build": "._build",
    "hookimpl": ".hookspecs",
    "hookspecs": None,
    "load": "._checkpoint",
    "save": "._checkpoint",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name] or f".{name}", __name__)
    value = module if _LAZY[name] is None else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
