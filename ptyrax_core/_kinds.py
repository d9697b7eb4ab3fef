"""Kinds: the families of classes that plugins contribute by registry name.

Core defines one, the parametrizations. Any installed distribution may define more by naming
a `Kind` in the entry-point group `ptyrax.kinds` (the engine defines its data readers and loss
penalties this way, so that core stays free of physics); every other plugin then contributes
classes of that kind through the hook `ptyrax_<kind>` and declares them in the group
`ptyrax.<kind>`, exactly as it does parametrizations.
"""

import inspect
import re

from ._errors import PluginError

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*\Z")
RESERVED = frozenset({"functions", "commands", "examples", "kinds"})
"""Names that are hooks or entry-point groups of their own, not kinds."""


class Kind:
    """A family of classes that plugins contribute, each under a snake_case registry name
    unique across every kind.

    Arguments:
        plural: the kind's name, snake_case and plural, such as `"readers"`: plugins implement
            the hook `ptyrax_readers` (returning their classes) and declare the classes in the
            entry-point group `ptyrax.readers`.
        noun: one of them in words, such as `"reader"` (for messages).
        base: the class, or tuple of classes, that every contributed class subclasses.
        template: where the templates of a new plugin of this kind are, as
            `"package:folder"` (`ptyrax new-plugin NAME --kind PLURAL`); None: none.

    Example:
        >>> import ptyrax_core
        >>> readers = ptyrax_core.Kind("readers", "reader", object)
        >>> readers.hook, readers.group
        ('ptyrax_readers', 'ptyrax.readers')
    """

    __slots__ = ("base", "noun", "plural", "template")

    def __init__(
        self,
        plural: str,
        noun: str,
        base: type | tuple[type, ...],
        template: str | None = None,
    ):
        if not isinstance(plural, str) or not SNAKE_CASE.match(plural) or plural in RESERVED:
            raise ValueError(
                f"plural must be a snake_case name other than {sorted(RESERVED)}; got {plural!r}"
            )
        bases = base if isinstance(base, tuple) else (base,)
        if not bases or not all(isinstance(b, type) for b in bases):
            raise TypeError(f"base must be a class or a tuple of classes; got {base!r}")
        if template is not None and (not isinstance(template, str) or ":" not in template):
            raise ValueError(f"template must be 'package:folder' or None; got {template!r}")
        self.plural, self.noun, self.base, self.template = plural, noun, base, template

    @property
    def hook(self) -> str:
        """The hook a plugin implements to contribute classes of this kind."""
        return f"ptyrax_{self.plural}"

    @property
    def group(self) -> str:
        """The entry-point group in which a plugin declares them."""
        return f"ptyrax.{self.plural}"

    def check(self, cls: object) -> str:
        """The registry name of `cls`, a valid class of this kind.

        Raises:
            PluginError: `cls` is not a concrete subclass of `base` with its own snake_case
                `registry_name`.
        """
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            names = " or ".join(b.__name__ for b in (self.bases))
            raise PluginError(f"{self.hook} returned {cls!r}, which is not a subclass of {names}.")
        if inspect.isabstract(cls):
            raise PluginError(f"{cls.__qualname__} is abstract and cannot be registered.")
        name = cls.__dict__.get("registry_name")
        if not isinstance(name, str) or not SNAKE_CASE.match(name):
            raise PluginError(
                f"{cls.__qualname__} must declare its own snake_case registry_name class "
                f"attribute (such as 'phase_only'); it has {name!r}."
            )
        return name

    @property
    def bases(self) -> tuple[type, ...]:
        return self.base if isinstance(self.base, tuple) else (self.base,)

    def __repr__(self) -> str:
        names = ", ".join(b.__qualname__ for b in self.bases)
        return f"Kind({self.plural!r}, {self.noun!r}, {names})"


def parametrizations() -> Kind:
    """Core's own kind: array parametrizations and index-dependent parameters."""
    from ._array import ArrayParametrization
    from ._index import IndexDependentParameter

    return Kind(
        "parametrizations", "parametrization", (ArrayParametrization, IndexDependentParameter)
    )
