"""The demo's reconstruction: the simulated scan handed to the `ptyrax reconstruct` engine.

The demo has no forward model or fitting loop of its own: it writes its scan as the engine's
`Scan` (far field, translations in metres), its settings as the engine's `Config`, and reads
the result back in its own pixel frame, so what it checks against the truth is the engine.
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from ._simulate import DETECTOR_PIXEL, DISTANCE, WAVELENGTH, Dataset

OBJECTS = ("phase_only", "wavelet")
"""The object parametrizations the demo can use."""

_OBJECT_SPECS = {
    "phase_only": {"type": "phase_only"},
    "wavelet": {"type": "wavelet", "wavelet": "haar", "level": 2},
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """How the reconstruction runs.

    Attributes:
        steps: gradient steps (every position each step: one epoch of one full batch).
        object: `"phase_only"` (a `PhaseOnlyArrayParametrization`) or `"wavelet"` (a complex
            `WaveletArrayParametrization`, Haar, 2 levels).
        devices: how many devices share the scan positions.
        object_rate, probe_rate, position_rate: Adam learning rates (rad, relative, px).
        position_start: the fraction of the steps after which positions are refined.
    """

    steps: int = 300
    object: str = "phase_only"
    devices: int = 1
    object_rate: float = 0.05
    probe_rate: float = 0.01
    position_rate: float = 0.05
    position_start: float = 0.2


@dataclasses.dataclass(frozen=True)
class Result:
    """What a reconstruction produced, in the simulation's pixel frame.

    Attributes:
        object: the reconstructed object, `(M, M)` complex, aligned with the true one.
        probe: the reconstructed probe, `(P, P)` complex.
        positions: the refined positions, `(K, 2)`.
        losses: the loss before each step, `(steps,)`, and after the last one appended.
        seconds: wall time of the optimization, compilation included.
    """

    object: np.ndarray
    probe: np.ndarray
    positions: np.ndarray
    losses: np.ndarray
    seconds: float


def config(data: Dataset, settings: Settings):
    """The engine's config for the demo: far field, amplitude loss, full-batch Adam steps."""
    from ptyrax_reconstruct import Config, Stage

    if settings.object not in OBJECTS:
        raise ValueError(f"object must be one of {OBJECTS}; got {settings.object!r}.")
    return Config(
        data=None,
        propagation="far_field",
        padding=int(data.nominal_positions.min()),  # the engine's object frame is the demo's
        model={
            "object": _OBJECT_SPECS[settings.object],
            "probe": {"type": "direct"},
            "positions": {"type": "index_slice"},
        },
        loss="amplitude",
        stages=(Stage(settings.steps, settings.object_rate, len(data.counts)),),
        rate_scale={
            "probe": settings.probe_rate / settings.object_rate,
            "positions": settings.position_rate / settings.object_rate,
        },
        start_epoch={"positions": int(settings.position_start * settings.steps)},
    )


def scan(data: Dataset):
    """The simulated data as the engine's `Scan`: frames with the zero frequency at the centre,
    translations in metres from the nominal positions."""
    from ptyrax_reconstruct import Scan, geometry

    n, p, q = data.counts.shape
    basis = np.array([[0.0, -DETECTOR_PIXEL], [-DETECTOR_PIXEL, 0.0], [0.0, 0.0]])
    geo = geometry(
        propagation="far_field",
        wavelength=WAVELENGTH,
        detector_distance=DISTANCE,
        detector_basis=basis,
        frame_shape=(p, q),
    )
    return Scan(
        path=None,
        frames_shape=(n, p, q),
        translations=geo.to_metres(data.nominal_positions),
        valid=np.ones((p, q), bool),
        wavelength=WAVELENGTH,
        distance=DISTANCE,
        basis=basis,
        counts=np.fft.fftshift(data.counts, axes=(-2, -1)),
    )


def reconstruct(
    data: Dataset, settings: Settings, progress: Callable[[int, float], None] | None = None
) -> Result:
    """Fit the model to `data.counts`: `settings.steps` Adam steps over every position.

    `progress(step, loss)` is called after every step.
    """
    from ptyrax_reconstruct import reconstruct as engine

    result = engine(
        config(data, settings),
        scan=scan(data),
        devices=settings.devices,
        initial={"probe": data.probe_guess[None]},
        progress=None if progress is None else (lambda step, steps, loss: progress(step, loss)),
    )
    size = data.true_object.shape
    return Result(
        object=result.object[: size[0], : size[1]],
        probe=result.probe[0],
        positions=result.positions,
        losses=np.asarray([*result.epoch_loss, result.final_loss]),
        seconds=float(np.sum(result.epoch_seconds)),
    )
