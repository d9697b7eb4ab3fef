"""ptyrax-aberrations: an electron probe from its aperture and aberrations (Krivanek's notation)."""

import ptyrax_core

from ._probe import AberrationProbeArrayParametrization as AberrationProbeArrayParametrization


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [AberrationProbeArrayParametrization]


@ptyrax_core.hookimpl
def ptyrax_examples():
    wavelength = 2.508e-12  # 200 kV
    return [
        # one probe, 16 x 16, defocus and astigmatism trained, the rest fixed
        AberrationProbeArrayParametrization(
            (16, 16),
            wavelength,
            0.4e-10,
            25.0,
            {"C10": 60.0, "C12": 15.0, "phi12": 0.4, "C30": 2e4},
            trainable=("C10", "C12"),
        ),
        # a rectangular grid of rectangular pixels, every coefficient trained, a hard edge
        AberrationProbeArrayParametrization(
            (12, 20),
            wavelength,
            (0.5e-10, 0.3e-10),
            20.0,
            {"C10": -40.0, "C21": 300.0, "phi21": -1.0, "C23": 200.0, "phi23": 0.2},
            aperture_softness=0.0,
            scale=3.0,
        ),
        # three modes over a trained spread of defocus
        AberrationProbeArrayParametrization(
            (3, 16, 16),
            wavelength,
            0.4e-10,
            25.0,
            {"C10": 30.0},
            trainable=("C10", "focal_spread"),
            focal_spread=40.0,
        ),
    ]
