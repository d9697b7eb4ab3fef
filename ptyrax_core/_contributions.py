"""What an imported plugin's hooks contribute, checked before the registry keeps any of it."""

import inspect
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._array import ArrayParametrization
from ._errors import PluginError
from ._index import IndexDependentParameter
from ._plugin import DECLARATION_GROUPS, Plugin

if TYPE_CHECKING:
    import pluggy

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*\Z")


def call(manager: "pluggy.PluginManager", module: Any, hook: str) -> list[Any]:
    """The results of `module`'s implementations of `hook`, concatenated."""
    results = []
    for impl in getattr(manager.hook, hook).get_hookimpls():
        if impl.plugin is module:
            result = impl.function()
            if result is not None:
                results.extend(result)
    return results


def contributions(
    manager: "pluggy.PluginManager", module: Any, plugin: Plugin
) -> tuple[dict[str, type], dict[str, Any]]:
    """The classes (registry name -> class) and the exports (public name -> class or
    function) of a registered plugin module, checked; `PluginError` if any is invalid or not
    what the plugin declares."""
    classes = _classes(call(manager, module, "ptyrax_parametrizations"), plugin)
    functions = _functions(call(manager, module, "ptyrax_functions"), plugin)
    exports = {cls.__name__: cls for cls in classes.values()}
    twice = sorted(exports.keys() & functions.keys())
    if twice:
        raise PluginError(f"{plugin.distribution} exports the name {twice[0]!r} twice.")
    if plugin.declared is not None:
        _check_declared(plugin, {"parametrizations": classes, "functions": functions})
    return classes, exports | functions


def _classes(classes: list[Any], plugin: Plugin) -> dict[str, type]:
    valid: dict[str, type] = {}
    for cls in classes:
        protocols = ArrayParametrization | IndexDependentParameter
        if not (isinstance(cls, type) and issubclass(cls, protocols)):
            raise PluginError(
                f"ptyrax_parametrizations returned {cls!r}, which is not a subclass of "
                "ArrayParametrization or IndexDependentParameter."
            )
        if inspect.isabstract(cls):
            raise PluginError(f"{cls.__qualname__} is abstract and cannot be registered.")
        name = cls.__dict__.get("registry_name")
        if not isinstance(name, str) or not SNAKE_CASE.match(name):
            raise PluginError(
                f"{cls.__qualname__} must declare its own snake_case registry_name class "
                f"attribute (such as 'phase_only'); it has {name!r}."
            )
        if name in valid:
            raise PluginError(f"{plugin.distribution} registers the registry name {name!r} twice.")
        valid[name] = cls
    return valid


def _functions(functions: list[Any], plugin: Plugin) -> dict[str, Any]:
    valid: dict[str, Any] = {}
    for obj in functions:
        name = getattr(obj, "__name__", None)
        if not callable(obj) or not isinstance(name, str) or not name.isidentifier():
            raise PluginError(f"ptyrax_functions returned {obj!r}, which is not a named function.")
        if name.startswith("_"):
            raise PluginError(
                f"{plugin.distribution} exports {name!r}; exported names must be public."
            )
        if name in valid:
            raise PluginError(f"{plugin.distribution} exports the name {name!r} twice.")
        valid[name] = obj
    return valid


def _check_declared(plugin: Plugin, contributed: dict[str, dict[str, Any]]) -> None:
    """Refuse a plugin whose hooks contribute other than what its entry points declare."""
    for hook, found in contributed.items():
        declared = plugin.declares(hook)
        if declared.keys() != found.keys():
            raise PluginError(
                f"{plugin.distribution} declares the {hook} {listed(declared)} in the "
                f"entry-point group {DECLARATION_GROUPS[hook]}, but its ptyrax_{hook} hook "
                f"returns {listed(found)}; the two must name the same {hook}."
            )
        for name, ep in declared.items():
            try:
                same = ep.load() is found[name]
            except (ImportError, AttributeError) as e:
                raise PluginError(
                    f"{plugin.distribution} declares {name} = {ep.value!r} in the entry-point "
                    f"group {ep.group}, which cannot be loaded: {type(e).__name__}: {e}"
                ) from e
            if not same:
                raise PluginError(
                    f"{plugin.distribution} declares {name} = {ep.value!r} in the entry-point "
                    f"group {ep.group}, but its ptyrax_{hook} hook gives {found[name]!r} for "
                    f"{name!r}."
                )


def listed(names: Iterable[str]) -> str:
    """`'a', 'b'` for names a and b, sorted; `nothing` for none."""
    return ", ".join(repr(n) for n in sorted(names)) or "nothing"
