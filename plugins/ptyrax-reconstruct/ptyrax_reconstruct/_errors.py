"""How a run ends when it does not end well, and the one-line warnings it gives.

`ptyrax reconstruct` maps each to its exit status: `ReconstructError` 2, `DivergedError` 3,
`Interrupted` 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
"""

import pathlib


class ReconstructError(Exception):
    """Bad input to a reconstruction (a file, a config, an argument); the message is one line
    that names what is wrong and what was expected. `ptyrax reconstruct` prints it and exits 2."""


class DivergedError(Exception):
    """The fit went non-finite: the loss or a component's values became NaN or infinite.

    Attributes:
        epoch: the epoch (from 1) in which it happened.
        component: what went non-finite first: `"loss"` (the model's prediction, at finite
            values), or a component's name (its gradient or its values).
        checkpoint: the checkpoint that holds the last finite state (the start of `epoch`),
            or None where the run had no output folder.

    `ptyrax reconstruct` prints its one-line message and exits 3; `--resume CHECKPOINT`
    continues from the last finite state, with a changed config (a lower rate, say).
    """

    def __init__(self, message: str, epoch: int, component: str, checkpoint: pathlib.Path | None):
        super().__init__(message)
        self.epoch, self.component, self.checkpoint = epoch, component, checkpoint


class Interrupted(Exception):
    """The run was asked to stop (`reconstruct(stop=...)`; SIGINT or SIGTERM on the command
    line) and stopped at an epoch boundary, its checkpoint written.

    Attributes:
        epoch: the epochs done.
        checkpoint: the checkpoint written there, or None where the run had no output folder.
        signal: the signal's number where a signal asked (`ptyrax reconstruct` exits with
            128 + it), else None.
    """

    def __init__(self, epoch: int, checkpoint: pathlib.Path | None, signal: int | None = None):
        where = f"; checkpoint {checkpoint}" if checkpoint else ""
        super().__init__(f"stopped after epoch {epoch}{where}")
        self.epoch, self.checkpoint, self.signal = epoch, checkpoint, signal


class ReconstructWarning(UserWarning):
    """A run that goes on, with something the user should know (one line). `ptyrax
    reconstruct` prints it as `ptyrax reconstruct: warning: ...`."""


class SlowStepWarning(ReconstructWarning, RuntimeWarning):
    """A run that will work, but slowly, and how to run it faster (one line)."""


class RisingLossWarning(ReconstructWarning):
    """The loss rose epoch after epoch: the run is drifting away (a learning rate too high
    for this data, say); given once a run."""


class NoiseFitWarning(ReconstructWarning):
    """The final deviance is below the noise floor by more than twice the floor's spread: the
    model fits photon noise (fewer epochs, a lower rate or `fit.stop_at_noise_floor`)."""
