"""Components built from their specs: what the engine gives a constructor."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from ptyrax_reconstruct._model import build_component

import ptyrax_core


class Optics(ptyrax_core.ArrayParametrization):
    """A probe sampled as the engine samples the object (as `aberration_probe` is)."""

    registry_name = "optics_probe"
    output_shape: tuple[int, ...] = eqx.field(static=True)
    wavelength: float = eqx.field(static=True)
    pixel_size: tuple[float, float] = eqx.field(static=True)

    def __init__(
        self, output_shape: tuple[int, ...], wavelength: float, pixel_size: tuple[float, float]
    ):
        self.output_shape = tuple(output_shape)
        self.wavelength, self.pixel_size = wavelength, tuple(pixel_size)

    def __call__(self):
        return jnp.ones(self.output_shape, jnp.complex64)

    def with_array(self, array):
        return self


def test_a_constructor_that_takes_the_sampling_gets_the_scan_s(monkeypatch):
    get = ptyrax_core.registry.get
    monkeypatch.setattr(
        ptyrax_core.registry,
        "get",
        lambda n, kind="parametrizations": Optics if n == "optics_probe" else get(n, kind),
    )
    guess = np.ones((1, 8, 8), np.complex64)
    sampling = {"wavelength": 2.5e-12, "pixel_size": (3e-11, 2e-11)}
    made = build_component("probe", {"type": "optics_probe"}, guess, ".", None, sampling)
    assert (made.wavelength, made.pixel_size) == (2.5e-12, (3e-11, 2e-11))
    given = {"type": "optics_probe", "wavelength": 1e-12}  # the spec's own value stays
    assert build_component("probe", given, guess, ".", None, sampling).wavelength == 1e-12
    plain = build_component("object", {"type": "direct"}, guess[0], ".", None, sampling)
    assert plain().shape == (8, 8)  # a constructor without them is not given them
