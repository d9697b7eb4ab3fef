"""The plugin registry: parametrizations found through the entry-point group `ptyrax`.

Discovery is lazy (on the first call of a function here) and happens once; `reload()` starts
it over. Core's built-ins register first, through the same hooks as any plugin, then each
selected entry point, in order of distribution name. Environment variables, read at discovery:

- `PTYRAX_STRICT_PLUGINS=1`: a plugin that fails to load raises `PluginError` instead of being
  recorded and warned about (`PluginWarning`).
- `PTYRAX_DISABLE_PLUGIN_AUTOLOAD=1`: load the built-ins only (and those `PTYRAX_PLUGINS` names).
- `PTYRAX_PLUGINS=a,b`: load only the entry points named `a` and `b`.

A plugin left out is never imported. A plugin that fails to import, whose hook raises, or that
contributes something invalid (a registry name taken by another distribution, a class without a
snake_case `registry_name`, ...) is skipped whole and recorded with its error.

Example:
    >>> from ptyrax_core import registry
    >>> registry.get("direct").__name__
    'DirectArrayParametrization'
    >>> {"direct", "index_slice"} <= set(registry.names())
    True
"""

import dataclasses
import importlib
import importlib.metadata
import inspect
import os
import re
import threading
import warnings
from collections.abc import Callable
from typing import Any

import pluggy

from . import _builtins, hookspecs
from ._array import ArrayParametrization
from ._checks import typechecked
from ._errors import PluginError, PluginWarning, UnknownParametrizationError
from ._firstparty import provider
from ._index import IndexDependentParameter
from ._version import __version__

GROUP = "ptyrax"
"""The entry-point group plugins register in."""

_SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*\Z")


@dataclasses.dataclass(frozen=True)
class PluginInfo:
    """What one plugin is and what it contributed.

    Attributes:
        name: the entry-point name (`"builtins"` for core's own parametrizations).
        distribution: the distribution that provides it, such as `"ptyrax-wavelet"`.
        version: that distribution's version.
        parametrizations: the registry names it contributed, sorted.
        functions: the helper functions it contributed, sorted.
        error: why it was not loaded (`"ImportError: ..."`), or None.
    """

    name: str
    distribution: str
    version: str
    parametrizations: tuple[str, ...]
    functions: tuple[str, ...]
    error: str | None


@dataclasses.dataclass
class _Registry:
    classes: dict[str, tuple[type, str]]  # registry name -> (class, distribution)
    exports: dict[str, tuple[Any, str]]  # public name -> (class or function, distribution)
    plugins: list[PluginInfo]
    manager: pluggy.PluginManager


_lock = threading.RLock()
_registry: _Registry | None = None
_discovering = False


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _current() -> _Registry:
    global _registry, _discovering
    with _lock:
        if _registry is None:
            if _discovering:
                raise PluginError("a ptyrax plugin used the registry while being loaded.")
            _discovering = True
            try:
                _registry = _discover()
            finally:
                _discovering = False
        return _registry


def _discover() -> _Registry:
    strict = _flag("PTYRAX_STRICT_PLUGINS")
    manager = pluggy.PluginManager(GROUP)
    manager.add_hookspecs(hookspecs)
    registry = _Registry({}, {}, [], manager)
    _load(registry, manager, "builtins", "ptyrax-core", __version__, lambda: _builtins, strict)
    for ep in _selected_entry_points(strict):
        dist, version = _name_and_version(ep)
        _load(registry, manager, ep.name, dist, version, ep.load, strict)
    return registry


def _problem(message: str, strict: bool, cause: BaseException | None = None) -> None:
    if strict:
        raise PluginError(f"{message} (PTYRAX_STRICT_PLUGINS is set)") from cause
    warnings.warn(message, PluginWarning, stacklevel=5)


def _name_and_version(ep: importlib.metadata.EntryPoint) -> tuple[str, str]:
    """The name and version of the distribution that provides `ep`, from the headers of its
    metadata only: `ep.dist.name` and `.version` parse the whole file, long description
    included, at each access (about 0.4 ms)."""
    if ep.dist is None:
        return "an unknown distribution", ""
    text = ep.dist.read_text("METADATA") or ep.dist.read_text("PKG-INFO") or ""
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, colon, value = line.partition(":")
        if colon and key in ("Name", "Version"):
            fields.setdefault(key, value.strip())
    if "Name" not in fields:  # unusual metadata: let importlib.metadata read it
        return ep.dist.name, ep.dist.version
    return fields["Name"], fields.get("Version", "")


def _selected_entry_points(strict: bool) -> list[importlib.metadata.EntryPoint]:
    eps = sorted(
        importlib.metadata.entry_points(group=GROUP),
        key=lambda ep: (_name_and_version(ep)[0].lower(), ep.name),
    )
    wanted = {n.strip() for n in os.environ.get("PTYRAX_PLUGINS", "").split(",") if n.strip()}
    if wanted:
        missing = wanted - {ep.name for ep in eps} - {"builtins"}
        if missing:
            _problem(
                f"PTYRAX_PLUGINS names {', '.join(sorted(missing))}, which no installed "
                "distribution provides as a ptyrax entry point; installed: "
                f"{', '.join(sorted({ep.name for ep in eps})) or 'none'}.",
                strict,
            )
        return [ep for ep in eps if ep.name in wanted]
    return [] if _flag("PTYRAX_DISABLE_PLUGIN_AUTOLOAD") else eps


def _load(
    registry: _Registry,
    manager: pluggy.PluginManager,
    name: str,
    dist: str,
    version: str,
    load: Callable[[], Any],
    strict: bool,
) -> None:
    """Load one plugin, all or nothing: on any error it is recorded and nothing of it kept."""
    try:
        plugin = load()
        manager.register(plugin, name=name)
        try:
            manager.check_pending()
            found = _call(manager, plugin, "ptyrax_parametrizations")
            classes = _claim_classes(registry, found, dist)
            exports = _claim_exports(
                registry, classes, _call(manager, plugin, "ptyrax_functions"), dist
            )
        except BaseException:
            manager.unregister(plugin)
            raise
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        registry.plugins.append(PluginInfo(name, dist, version, (), (), error))
        _problem(f"ptyrax plugin {name!r} from {dist} {version} was not loaded: {error}", strict, e)
        return
    registry.classes.update({n: (cls, dist) for n, cls in classes.items()})
    registry.exports.update({n: (obj, dist) for n, obj in exports.items()})
    functions = sorted(n for n, obj in exports.items() if not isinstance(obj, type))
    registry.plugins.append(
        PluginInfo(name, dist, version, tuple(sorted(classes)), tuple(functions), None)
    )


def _call(manager: pluggy.PluginManager, plugin: Any, hook: str) -> list[Any]:
    """The results of `plugin`'s implementations of `hook`, concatenated."""
    results = []
    for impl in getattr(manager.hook, hook).get_hookimpls():
        if impl.plugin is plugin:
            result = impl.function()
            if result is not None:
                results.extend(result)
    return results


def _taken(what: str, name: str, dist: str, owner: str) -> PluginError:
    return PluginError(
        f"{dist} registers the {what} {name!r}, which {owner} already registers; two installed "
        f"distributions cannot provide the same name: uninstall one of {owner} and {dist}."
    )


def _claim_classes(registry: _Registry, classes: list[Any], dist: str) -> dict[str, type]:
    claimed: dict[str, type] = {}
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
        if not isinstance(name, str) or not _SNAKE_CASE.match(name):
            raise PluginError(
                f"{cls.__qualname__} must declare its own snake_case registry_name class "
                f"attribute (such as 'phase_only'); it has {name!r}."
            )
        if name in claimed:
            raise PluginError(f"{dist} registers the registry name {name!r} twice.")
        if name in registry.classes:
            raise _taken("registry name", name, dist, registry.classes[name][1])
        claimed[name] = cls
    return claimed


def _claim_exports(
    registry: _Registry, classes: dict[str, type], functions: list[Any], dist: str
) -> dict[str, Any]:
    claimed: dict[str, Any] = {}
    for obj in [*classes.values(), *functions]:
        name = getattr(obj, "__name__", None)
        if not callable(obj) or not isinstance(name, str) or not name.isidentifier():
            raise PluginError(f"ptyrax_functions returned {obj!r}, which is not a named function.")
        if name.startswith("_"):
            raise PluginError(f"{dist} exports {name!r}; exported names must be public.")
        if name in claimed:
            raise PluginError(f"{dist} exports the name {name!r} twice.")
        if name in registry.exports:
            raise _taken("exported name", name, dist, registry.exports[name][1])
        claimed[name] = obj
    return claimed


def names() -> list[str]:
    """The registry names of every loaded parametrization class, sorted."""
    return sorted(_current().classes)


@typechecked
def get(name: str) -> type:
    """The parametrization class registered as `name` (such as `"phase_only"`).

    Raises:
        UnknownParametrizationError: (a `KeyError`) no loaded plugin registers `name`; the
            message lists the registered names and, for a first-party name, the distribution
            to install.
    """
    registry = _current()
    if name in registry.classes:
        return registry.classes[name][0]
    message = f"No parametrization is registered as {name!r}."
    dist = provider(name)
    if dist is not None:
        message += f" It is provided by the distribution {dist}: pip install {dist}"
    message += f" Registered: {', '.join(sorted(registry.classes))}."
    failed = [p for p in registry.plugins if p.error]
    if failed:
        message += " Plugins that failed to load: " + "; ".join(
            f"{p.name} ({p.distribution}): {p.error}" for p in failed
        )
    raise UnknownParametrizationError(message)


def plugins() -> list[PluginInfo]:
    """A record per plugin, the built-ins first, failed ones included."""
    return list(_current().plugins)


def _plugin_of(name: str) -> PluginInfo:
    """The record of the plugin that registers `name` (a loaded registry name)."""
    return next(p for p in _current().plugins if name in p.parametrizations)


def exports() -> dict[str, Any]:
    """Every public name the loaded plugins contribute: class names and helper functions."""
    return {name: obj for name, (obj, _) in _current().exports.items()}


def examples(plugin: str | None = None) -> dict[str, list[Any]]:
    """Example instances from each loaded plugin's `ptyrax_examples` hook, built now.

    Arguments:
        plugin: an entry-point name (`"builtins"` for core's own) to build only its examples.

    Returns:
        Plugin name -> its examples (plugins without the hook are left out).
    """
    registry = _current()
    loaded = [p.name for p in registry.plugins if p.error is None]
    if plugin is not None and plugin not in loaded:
        raise KeyError(f"no loaded plugin is named {plugin!r}; loaded: {', '.join(loaded)}.")
    built = {}
    for name in loaded if plugin is None else [plugin]:
        found = _call(registry.manager, registry.manager.get_plugin(name), "ptyrax_examples")
        if found:
            built[name] = found
    return built


def add_commands(commands: Any) -> None:
    """Let every loaded plugin add its subcommands to `commands` (the `ptyrax` command's
    argparse sub-parsers) through its `ptyrax_commands` hook.

    A hook that raises, or adds a name already taken, is skipped with a `PluginWarning` (a
    `PluginError` under `PTYRAX_STRICT_PLUGINS=1`); the other plugins' commands stay.
    """
    manager = _current().manager
    for impl in manager.hook.ptyrax_commands.get_hookimpls():
        try:
            impl.function(**dict.fromkeys(impl.argnames, commands))
        except Exception as e:
            _problem(
                f"ptyrax plugin {impl.plugin_name!r} could not add its commands: "
                f"{type(e).__name__}: {e}",
                _flag("PTYRAX_STRICT_PLUGINS"),
                e,
            )


def reload() -> list[PluginInfo]:
    """Forget what was discovered and discover again, as `plugins()` returns it.

    For a running session in which a plugin was installed, or the environment variables above
    changed. Classes already in use keep working; `get` returns the newly loaded ones.
    """
    _forget()
    importlib.invalidate_caches()
    return plugins()


def _forget() -> None:
    global _registry
    with _lock:
        _registry = None
