"""ptyrax-core: array parametrizations for gradient-based ptychography in JAX.

Keep a model's constrained arrays as parametrizations, and resolve them into plain arrays
right before the jitted forward model runs. Concrete parametrizations come from plugins found
through the entry-point group `ptyrax` (see `ptyrax_core.registry`).
"""

from . import hookspecs as hookspecs
from . import parametrizations as parametrizations
from . import registry as registry
from ._array import (
    ArrayParametrization as ArrayParametrization,
)
from ._array import (
    DirectArrayParametrization as DirectArrayParametrization,
)
from ._array import (
    as_direct_array_parametrization as as_direct_array_parametrization,
)
from ._checks import (
    HostOrDeviceArray as HostOrDeviceArray,
)
from ._checks import (
    as_array as as_array,
)
from ._checks import (
    check_index as check_index,
)
from ._checks import (
    static_float as static_float,
)
from ._checks import (
    typechecked as typechecked,
)
from ._errors import (
    MissingPluginError as MissingPluginError,
)
from ._errors import (
    PluginError as PluginError,
)
from ._errors import (
    PluginWarning as PluginWarning,
)
from ._errors import (
    UnknownParametrizationError as UnknownParametrizationError,
)
from ._errors import (
    UnresolvedParametrizationError as UnresolvedParametrizationError,
)
from ._index import (
    BoundSliceParameter as BoundSliceParameter,
)
from ._index import (
    IndexDependentParameter as IndexDependentParameter,
)
from ._index import (
    IndexSliceParameter as IndexSliceParameter,
)
from ._resolve import (
    resolve_array_parametrizations as resolve_array_parametrizations,
)
from ._resolve import (
    resolve_index_dependent_parameters as resolve_index_dependent_parameters,
)
from ._resolve import (
    resolve_index_dependent_parameters_all as resolve_index_dependent_parameters_all,
)
from ._resolve import (
    resolve_parametrizations as resolve_parametrizations,
)
from ._version import __version__ as __version__
from .hookspecs import hookimpl as hookimpl
