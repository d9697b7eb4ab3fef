"""The exceptions and warnings ptyrax raises."""


class UnresolvedParametrizationError(AttributeError, TypeError):
    """A parametrization was used as if it were the array it produces.

    Call [`ptyrax_core.resolve_parametrizations`][] on the model first (or call the
    parametrization itself) to get the array.
    """


class UnknownNameError(KeyError):
    """[`ptyrax_core.registry.get`][] was asked for a name that no loaded plugin registers
    as a class of the kind asked for."""

    def __str__(self) -> str:
        # KeyError quotes its message; this one is a sentence, print it as one.
        return str(self.args[0]) if self.args else ""


class UnknownParametrizationError(UnknownNameError):
    """[`ptyrax_core.registry.get`][] was asked for a parametrization that no loaded plugin
    registers."""


class MissingPluginError(ImportError):
    """A name of the API belongs to a plugin distribution that is not installed."""


class PluginError(RuntimeError):
    """A plugin failed to load, or contributes something the registry refuses."""


class PluginWarning(UserWarning):
    """A plugin failed to load and was skipped (an error under ``PTYRAX_STRICT_PLUGINS=1``)."""


class SpecError(Exception):
    """[`ptyrax_core.build`][] could not build a spec.

    The message starts with where the problem is: the spec file, if any, and the key path into
    the spec, such as `spec["object"]["phase_initializer"]`. Each error is also the builtin
    exception of its kind, so `except KeyError` and the like work too:

    - a `KeyError` (an [`UnknownParametrizationError`][ptyrax_core.UnknownParametrizationError])
      for a `type` that no loaded plugin registers;
    - a `TypeError` for an unknown or missing constructor argument, or a value of the wrong kind;
    - a `ValueError` for a wrong value or shape, or a file that cannot be read.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SpecKeyError(SpecError, UnknownParametrizationError):
    """A spec names a `type` that no loaded plugin registers."""


class SpecTypeError(SpecError, TypeError):
    """A spec has an unknown or missing argument, or a value of the wrong kind."""


class SpecValueError(SpecError, ValueError):
    """A spec has a wrong value or shape, or its file cannot be read."""


class CheckpointError(ValueError):
    """[`ptyrax_core.load`][] refused a file: not a ptyrax checkpoint, truncated, altered or
    damaged, or holding what the installed plugins cannot rebuild.

    Raised before anything is returned: a checkpoint loads whole or not at all.
    """
