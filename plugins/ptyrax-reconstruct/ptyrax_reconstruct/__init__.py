"""ptyrax-reconstruct: ptychographic reconstruction of measured scans, from a config file.

`ptyrax reconstruct CONFIG` on the command line; in Python:

```python
from ptyrax_reconstruct import reconstruct
result = reconstruct("examples/petra-p25-near-field.toml", out="petra-p25")
result.final_deviance, result.object.shape
```

Importing this module is cheap: the `ptyrax` command loads it to list the subcommand; JAX,
h5py, optax and matplotlib load when a reconstruction runs.
"""

import importlib
from typing import TYPE_CHECKING, Any

import ptyrax_core

if TYPE_CHECKING:
    from ._array_reader import ArrayReader as ArrayReader, take as take
    from ._calibration import (
        electron_wavelength as electron_wavelength,
        grid_translations as grid_translations,
        photon_wavelength as photon_wavelength,
    )
    from ._config import Config as Config, Stage as Stage, load_config as load_config
    from ._cxi import Scan as Scan, read_cxi as read_cxi, write_cxi as write_cxi
    from ._distributed import (
        initialize_distributed as initialize_distributed,
        use_devices as use_devices,
    )
    from ._errors import (
        DivergedError as DivergedError,
        Interrupted as Interrupted,
        NoiseFitWarning as NoiseFitWarning,
        ReconstructError as ReconstructError,
        ReconstructWarning as ReconstructWarning,
        RisingLossWarning as RisingLossWarning,
        SlowStepWarning as SlowStepWarning,
    )
    from ._forward import (
        detector_waves as detector_waves,
        exit_waves as exit_waves,
        intensities as intensities,
    )
    from ._frc import (
        Registration as Registration,
        Rings as Rings,
        crossing as crossing,
        fourier_ring_correlation as fourier_ring_correlation,
        half_bit_threshold as half_bit_threshold,
        register as register,
    )
    from ._frc_command import FrcResult as FrcResult, frc as frc
    from ._geometry import Geometry as Geometry, geometry as geometry
    from ._loss import (
        amplitude_error as amplitude_error,
        deviance_moments as deviance_moments,
        poisson_deviance as poisson_deviance,
    )
    from ._penalties import (
        PENALTIES as PENALTIES,
        Penalty as Penalty,
        PenaltySpec as PenaltySpec,
    )
    from ._propagate import (
        angular_spectrum as angular_spectrum,
        fourier_shift as fourier_shift,
        shift_ramp as shift_ramp,
    )
    from ._readers import (
        READERS as READERS,
        CxiReader as CxiReader,
        Reader as Reader,
        read_data as read_data,
    )
    from ._run import Result as Result, reconstruct as reconstruct
    from ._score import (
        PhaseScore as PhaseScore,
        phase_score as phase_score,
        position_rmse as position_rmse,
    )

_LAZY = {
    "use_devices": "._distributed",
    "Config": "._config",
    "Stage": "._config",
    "load_config": "._config",
    "Scan": "._cxi",
    "read_cxi": "._cxi",
    "write_cxi": "._cxi",
    "initialize_distributed": "._distributed",
    "DivergedError": "._errors",
    "Interrupted": "._errors",
    "ReconstructError": "._errors",
    "ReconstructWarning": "._errors",
    "NoiseFitWarning": "._errors",
    "RisingLossWarning": "._errors",
    "SlowStepWarning": "._errors",
    "detector_waves": "._forward",
    "exit_waves": "._forward",
    "intensities": "._forward",
    "amplitude_error": "._loss",
    "poisson_deviance": "._loss",
    "deviance_moments": "._loss",
    "PENALTIES": "._penalties",
    "Penalty": "._penalties",
    "PenaltySpec": "._penalties",
    "angular_spectrum": "._propagate",
    "fourier_shift": "._propagate",
    "shift_ramp": "._propagate",
    "ArrayReader": "._array_reader",
    "take": "._array_reader",
    "electron_wavelength": "._calibration",
    "grid_translations": "._calibration",
    "photon_wavelength": "._calibration",
    "READERS": "._readers",
    "CxiReader": "._readers",
    "Reader": "._readers",
    "read_data": "._readers",
    "Rings": "._frc",
    "Registration": "._frc",
    "crossing": "._frc",
    "fourier_ring_correlation": "._frc",
    "half_bit_threshold": "._frc",
    "register": "._frc",
    "FrcResult": "._frc_command",
    "frc": "._frc_command",
    "Geometry": "._geometry",
    "geometry": "._geometry",
    "Result": "._run",
    "reconstruct": "._run",
    "PhaseScore": "._score",
    "phase_score": "._score",
    "position_rmse": "._score",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


@ptyrax_core.hookimpl
def ptyrax_commands(commands):
    from . import _command, _frc_command, _inspect

    _command.add_parser(commands)
    _inspect.add_parser(commands)
    _frc_command.add_parser(commands)


@ptyrax_core.hookimpl
def ptyrax_readers():
    from ._formats import Hdf5Reader, MatReader, NpyReader, RawReader, TiffReader, ZarrReader
    from ._readers import CxiReader

    return [CxiReader, Hdf5Reader, NpyReader, TiffReader, ZarrReader, MatReader, RawReader]
