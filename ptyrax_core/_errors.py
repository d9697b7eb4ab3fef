"""The exceptions and warnings ptyrax raises."""


class UnresolvedParametrizationError(AttributeError, TypeError):
    """A parametrization was used as if it were the array it produces.

    Call [`ptyrax_core.resolve_parametrizations`][] on the model first (or call the
    parametrization itself) to get the array.
    """


class UnknownParametrizationError(KeyError):
    """[`ptyrax_core.registry.get`][] was asked for a name that no loaded plugin registers."""

    def __str__(self) -> str:
        # KeyError quotes its message; this one is a sentence, print it as one.
        return str(self.args[0]) if self.args else ""


class MissingPluginError(ImportError):
    """A name of the API belongs to a plugin distribution that is not installed."""


class PluginError(RuntimeError):
    """A plugin failed to load, or contributes something the registry refuses."""


class PluginWarning(UserWarning):
    """A plugin failed to load and was skipped (an error under ``PTYRAX_STRICT_PLUGINS=1``)."""
