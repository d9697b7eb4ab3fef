"""What an imported plugin's hooks contribute, checked before the registry keeps any of it."""

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._errors import PluginError
from ._kinds import SNAKE_CASE as SNAKE_CASE, Kind
from ._plugin import DECLARATION_GROUPS, Plugin

if TYPE_CHECKING:
    import pluggy


def call(manager: "pluggy.PluginManager", module: Any, hook: str) -> list[Any]:
    """The results of `module`'s implementations of `hook`, concatenated."""
    results = []
    for impl in _impls(manager, module, hook):
        result = impl.function()
        if result is not None:
            results.extend(result)
    return results


def _impls(manager: "pluggy.PluginManager", module: Any, hook: str) -> list[Any]:
    caller = getattr(manager.hook, hook, None)
    return [] if caller is None else [i for i in caller.get_hookimpls() if i.plugin is module]


def contributions(
    manager: "pluggy.PluginManager",
    module: Any,
    plugin: Plugin,
    kinds: dict[str, Callable[[], Kind]],
) -> tuple[dict[str, type], dict[str, str], dict[str, Any]]:
    """The classes (registry name -> class), their kinds (registry name -> kind) and the
    exports (public name -> parametrization class or function) of a registered plugin module,
    checked; `PluginError` if any is invalid or not what the plugin declares. `kinds` maps
    each known kind to how to get its `Kind` (imported only for a plugin that implements the
    kind's hook)."""
    classes: dict[str, type] = {}
    kind_of: dict[str, str] = {}
    by_kind: dict[str, dict[str, type]] = {}
    for plural, load in kinds.items():
        if not _impls(manager, module, f"ptyrax_{plural}"):
            by_kind[plural] = {}
            continue
        kind = load()
        found = by_kind[plural] = {}
        for cls in call(manager, module, kind.hook):
            name = kind.check(cls)
            if name in classes or name in found:
                raise PluginError(
                    f"{plugin.distribution} registers the registry name {name!r} twice."
                )
            found[name] = cls
        classes.update(found)
        kind_of.update(dict.fromkeys(found, plural))
    functions = _functions(call(manager, module, "ptyrax_functions"), plugin)
    exports = {cls.__name__: cls for cls in by_kind.get("parametrizations", {}).values()}
    twice = sorted(exports.keys() & functions.keys())
    if twice:
        raise PluginError(f"{plugin.distribution} exports the name {twice[0]!r} twice.")
    if plugin.declared is not None:
        _check_declared(plugin, {**by_kind, "functions": functions})
    return classes, kind_of, exports | functions


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
                f"entry-point group {DECLARATION_GROUPS.get(hook, f'ptyrax.{hook}')}, but its "
                f"ptyrax_{hook} hook "
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
