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
