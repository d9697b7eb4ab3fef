"""ptyrax-binary: binary masks, a stored array thresholded."""

import ptyrax_core

from ._binary import BinaryArrayParametrization as BinaryArrayParametrization


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [BinaryArrayParametrization]
