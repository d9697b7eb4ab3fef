"""The hooks a ptyrax plugin implements.

A plugin is a module named by an entry point in the group `ptyrax`; it implements any of these
hooks with functions marked `@ptyrax_core.hookimpl`:

```toml
[project.entry-points.ptyrax]
mything = "ptyrax_mything"

# What the hooks contribute, so that the plugin is imported only when a name is first used:
[project.entry-points."ptyrax.parametrizations"]
mything = "ptyrax_mything:MythingArrayParametrization"
```

Each hook below that contributes names has its declaration group: `ptyrax.parametrizations`,
`ptyrax.functions`, `ptyrax.commands` (`ptyrax_core.registry.DECLARATION_GROUPS`).

A kind that an installed distribution defines (`ptyrax_core.Kind`, in the entry-point group
`ptyrax.kinds`), such as the engine's `readers`, adds the hook `ptyrax_<kind>`: it returns the
plugin's classes of that kind, as `ptyrax_parametrizations` does, declared in the group
`ptyrax.<kind>`.
"""

from collections.abc import Callable, Sequence
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("ptyrax")
hookimpl = pluggy.HookimplMarker("ptyrax")
"""Marks a plugin's function as the implementation of the hook of the same name."""


@hookspec
def ptyrax_parametrizations() -> Sequence[type]:
    """Return the parametrization classes this plugin contributes.

    Each is a concrete subclass of `ArrayParametrization` or `IndexDependentParameter` that
    declares its own snake_case `registry_name` (a class attribute, such as `"phase_only"`),
    unique across the installed plugins. The class is also exported under its `__name__` by
    `ptyrax_core.parametrizations`.
    """


@hookspec
def ptyrax_examples() -> Sequence[object]:
    """Return small example instances of this plugin's parametrizations.

    The conformance kit checks each one (`ptyrax_core.testing.check_parametrization`, and the
    pytest fixture `ptyrax_example`). Cover every class and its main options (real and complex,
    with and without batch dimensions, ...); keep them small, they are built when a test asks.
    """


@hookspec
def ptyrax_commands(commands: Any) -> None:
    """Add subcommands to the `ptyrax` command.

    `commands` is the command's argparse sub-parsers object: add a parser with
    `commands.add_parser(name, help=...)`, give it arguments, and
    `set_defaults(run=function)`, where `function(args)` runs the command and returns its exit
    status. A name that another plugin or core already uses is refused with a warning (an
    error under `PTYRAX_STRICT_PLUGINS=1`).
    """


@hookspec
def ptyrax_functions() -> Sequence[Callable]:
    """Return the helper functions this plugin contributes.

    Each is exported under its `__name__` by `ptyrax_core.parametrizations`, which must be a
    public identifier unique across the installed plugins.
    """


def kind_hookspecs(kinds: Sequence[str]) -> type:
    """A namespace of hook specifications `ptyrax_<kind>() -> Sequence[type]`, one for each of
    `kinds` (the plurals that installed distributions define), for `add_hookspecs`."""

    def spec(kind: str) -> Callable:
        def hook() -> Sequence[type]:
            pass

        hook.__name__ = hook.__qualname__ = f"ptyrax_{kind}"
        hook.__doc__ = f"Return the {kind} this plugin contributes (classes, by registry_name)."
        return hookspec(hook)

    return type("KindHooks", (), {f"ptyrax_{kind}": staticmethod(spec(kind)) for kind in kinds})
