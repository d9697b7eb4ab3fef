"""ptyrax-penalties: loss penalties for `ptyrax reconstruct`, named in `[[loss.penalties]]`.

L1 (`l1`), Tikhonov (`l2`), isotropic total variation, lateral or across the slices of a
multislice object (`total_variation`), and the probe's total power (`probe_power`). Each is a
`ptyrax_reconstruct.Penalty`: its arguments are its fields, and called on an array it returns
a real scalar that the engine, times the table's weight, adds to each step's loss.
"""

import ptyrax_core

from ._norms import L1Penalty as L1Penalty, L2Penalty as L2Penalty
from ._probe_power import ProbePowerPenalty as ProbePowerPenalty
from ._total_variation import TotalVariationPenalty as TotalVariationPenalty


@ptyrax_core.hookimpl
def ptyrax_penalties():
    return [L1Penalty, L2Penalty, TotalVariationPenalty, ProbePowerPenalty]
