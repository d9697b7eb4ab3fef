"""The model: each component built by registry name from its spec, started at a guess.

A component's spec is `{"type": NAME, **arguments}` (`ptyrax_core.build`). The engine gives
the constructor's first argument when the spec leaves it out: the guess's shape if that
argument is `output_shape`, else the guess itself (an array); then `with_array(guess)`
puts the engine's initial guess in (or its projection onto what the parametrization can
represent: the angle for a phase-only object, say).

A shared component (object, probe, background) whose type is index-dependent (per-position
probes, say) gets the guess at every frame: `(frames, *shape)`.

A constructor that takes `wavelength` (m) or `pixel_size` (the sample-plane pixel, m,
`(rows, columns)`) gets the scan's when the spec leaves them out: a probe made from its
optics (`aberration_probe`) is sampled as the engine samples the object. An object whose
constructor takes `slices` makes a multislice object whole, `(slices, rows, columns)` (a
filter across the slices, say), and gets `slice_spacing` (m) too if it takes it; any other
is stacked, one member a slice.
"""

import inspect
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import ptyrax_core

from ._errors import ReconstructError


def build_component(
    name: str,
    spec: dict,
    guess: np.ndarray,
    base_dir,
    frames: int | None = None,
    sampling: dict[str, Any] | None = None,
) -> Any:
    """Build the component `name` from `spec`, started at `guess`; `frames` for a shared
    guess (one for every frame), to give an index-dependent type the guess at each frame;
    `sampling` (`wavelength`, `pixel_size`) for a constructor that takes them."""
    kind = spec["type"]
    try:
        cls = ptyrax_core.registry.get(kind)
    except KeyError as e:
        raise ReconstructError(f"config: model.{name}.type: {_one_line(e)}") from None
    if frames is not None and issubclass(cls, ptyrax_core.IndexDependentParameter):
        guess = np.broadcast_to(guess, (frames, *guess.shape))
    spec = dict(spec)
    first = _first_argument(cls)
    if first == "output_shape" and spec.get(first, list(guess.shape)) != list(guess.shape):
        raise ReconstructError(
            f"config: model.{name}.output_shape must be the {name}'s shape {list(guess.shape)} "
            f"(or be left out); got {spec[first]!r}"
        )
    if first is not None and first not in spec:
        spec[first] = list(guess.shape) if first == "output_shape" else jnp.asarray(guess)
    takes = inspect.signature(cls.__init__).parameters
    for key, value in (sampling or {}).items():
        if key in takes and key not in spec:
            spec[key] = value
    try:
        component = ptyrax_core.build(spec, base_dir=base_dir)
    except ptyrax_core.SpecError as e:
        raise ReconstructError(f"config: model.{name}: {_one_line(e)}") from None
    except (MemoryError, jax.errors.JaxRuntimeError) as e:  # an array the spec asks for
        raise ReconstructError(
            f"config: model.{name}: its spec asks for more memory than there is: {_one_line(e)}"
        ) from None
    if not callable(getattr(component, "with_array", None)):
        raise ReconstructError(
            f"config: model.{name}.type {kind!r}: {cls.__name__} has no with_array, so the "
            "engine cannot start it at its initial guess"
        )
    try:
        component = component.with_array(jnp.asarray(guess))
    except (TypeError, ValueError) as e:
        raise ReconstructError(
            f"config: model.{name}: {cls.__name__} cannot hold the {name} guess of shape "
            f"{guess.shape} and dtype {guess.dtype}: {_one_line(e)}"
        ) from None
    if isinstance(component, ptyrax_core.ArrayParametrization):
        made = jax.eval_shape(component)
        if made.shape != guess.shape:
            raise ReconstructError(
                f"config: model.{name}: type {kind!r} makes an array of shape "
                f"{list(made.shape)}; the {name} is {list(guess.shape)}"
            )
    return component


def _first_argument(cls: type) -> str | None:
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional[0].name if positional else None


def _one_line(e: Exception) -> str:
    text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return " ".join(str(text).split())


def takes(spec: dict, argument: str) -> bool:
    """Whether the constructor of the registry name in `spec` takes `argument` (False where
    no installed plugin registers it: building it says so)."""
    try:
        cls = ptyrax_core.registry.get(spec["type"])
    except KeyError:
        return False
    return isinstance(cls, type) and argument in inspect.signature(cls.__init__).parameters


def is_index_dependent(spec: dict) -> bool:
    """Whether the registry name in `spec` is an index-dependent type (False where no
    installed plugin registers it: building it says so)."""
    try:
        cls = ptyrax_core.registry.get(spec["type"])
    except KeyError:
        return False
    return isinstance(cls, type) and issubclass(cls, ptyrax_core.IndexDependentParameter)
