"""The one error the engine raises for bad input."""


class ReconstructError(Exception):
    """Bad input to a reconstruction (a file, a config, an argument); the message is one line
    that names what is wrong and what was expected. `ptyrax reconstruct` prints it and exits 2."""
