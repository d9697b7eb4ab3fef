"""The one error the engine raises for bad input, and the one warning it gives."""


class ReconstructError(Exception):
    """Bad input to a reconstruction (a file, a config, an argument); the message is one line
    that names what is wrong and what was expected. `ptyrax reconstruct` prints it and exits 2."""


class SlowStepWarning(RuntimeWarning):
    """A run that will work, but slowly, and how to run it faster (one line). `ptyrax
    reconstruct` prints it as `ptyrax reconstruct: warning: ...`."""
