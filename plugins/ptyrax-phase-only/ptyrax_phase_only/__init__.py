"""ptyrax-phase-only: complex arrays of unit magnitude, parametrized by their phase."""

import ptyrax_core

from ._exp import phase_only_exp as phase_only_exp, phase_only_exp_np as phase_only_exp_np
from ._phase_only import PhaseOnlyArrayParametrization as PhaseOnlyArrayParametrization


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [PhaseOnlyArrayParametrization]


@ptyrax_core.hookimpl
def ptyrax_functions():
    return [phase_only_exp, phase_only_exp_np]


@ptyrax_core.hookimpl
def ptyrax_examples():
    import jax.numpy as jnp

    return [
        PhaseOnlyArrayParametrization((3, 4), lambda s: jnp.linspace(-3.0, 3.0, 12).reshape(s)),
        PhaseOnlyArrayParametrization((2, 3, 3), lambda s: 0.1 * jnp.ones(s)),
    ]
