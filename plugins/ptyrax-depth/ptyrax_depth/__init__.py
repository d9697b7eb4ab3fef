"""ptyrax-depth: multislice objects whose slices are depth-smooth by construction."""

import ptyrax_core

from ._depth import DepthFilteredArrayParametrization as DepthFilteredArrayParametrization


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [DepthFilteredArrayParametrization]


@ptyrax_core.hookimpl
def ptyrax_examples():
    import jax

    def smooth(key, scale):
        # random free arrays, |output phase| well below pi (with_array reads it with angle)
        return lambda shape: scale * jax.random.normal(jax.random.PRNGKey(key), shape)

    return [
        # four slices, square pixels, phase and amplitude trained
        DepthFilteredArrayParametrization(
            (4, 8, 10),
            slice_spacing=2e-10,
            pixel_size=0.5e-10,
            strength=2.0,
            phase_initializer=smooth(0, 0.4),
            log_amplitude_initializer=smooth(1, 0.1),
        ),
        # phase only, rectangular pixels, an odd number of columns
        DepthFilteredArrayParametrization(
            (3, 6, 7),
            slice_spacing=1e-6,
            pixel_size=(2e-7, 3e-7),
            strength=0.5,
            phase_only=True,
            phase_initializer=smooth(2, 0.4),
        ),
        # no filter
        DepthFilteredArrayParametrization(
            (2, 5, 4), 1.0, 1.0, strength=0.0, phase_initializer=smooth(3, 0.4)
        ),
    ]
