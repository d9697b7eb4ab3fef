"""Installed plugins, as their entry points describe them, before any is imported.

A plugin is an entry point in the group `ptyrax` naming the module that holds its hooks. Its
distribution may declare what the hooks contribute in the groups `ptyrax.parametrizations`
(and `ptyrax.<kind>` for every other kind), `ptyrax.functions` and `ptyrax.commands`, one
entry point per name pointing to the object; the registry then knows those names without
importing the plugin. The group `ptyrax.kinds` names the kinds distributions define
(`readers = "ptyrax_reconstruct:READERS"`, a `Kind`).
"""

import importlib.metadata
import os
import re
import sys
import warnings
from collections.abc import Callable
from importlib.metadata import Distribution, EntryPoint
from typing import Any

from ._errors import PluginError, PluginWarning

GROUP = "ptyrax"
"""The entry-point group plugins register in."""

DECLARATION_GROUPS = {
    hook: f"{GROUP}.{hook}" for hook in ("parametrizations", "functions", "commands")
}
"""Hook -> the entry-point group in which a plugin declares what that hook contributes (and
`ptyrax.<kind>` for a kind a distribution defines)."""
KINDS_GROUP = f"{GROUP}.kinds"
"""The entry-point group in which a distribution defines a kind: `plural = "module:KIND"`."""


class Plugin:
    """One plugin entry point: what it declares, and once imported, what it contributed.

    A plain class, not a dataclass: each dataclass costs about 1 ms of `import ptyrax_core`.
    """

    def __init__(self, name: str, dist: tuple[str, str], module: str, load: Callable[[], Any]):
        self.name = name
        self.distribution, self.version = dist
        self.module = module  # the module the entry point names
        self.load = load
        self.declared: dict[str, dict[str, EntryPoint]] | None = None  # hook -> name -> where
        self.classes: dict[str, type] = {}  # registry name -> class, once loaded
        self.kind_of: dict[str, str] = {}  # registry name -> its kind, once loaded
        self.exports: dict[str, Any] = {}  # public name -> class or function, once loaded
        self.loaded = False
        self.error: str | None = None

    @property
    def pending(self) -> bool:
        """Not imported yet, and not failed."""
        return not self.loaded and self.error is None

    def declares(self, hook: str) -> dict[str, EntryPoint]:
        """What this plugin declares for `hook` (`"parametrizations"`, ...), name -> where."""
        return (self.declared or {}).get(hook, {})


def flag(name: str) -> bool:
    """Whether the environment variable `name` is set to 1, true, yes or on."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def problem(message: str, strict: bool, cause: BaseException | None = None) -> None:
    """Warn about a plugin problem (`PluginWarning`), or raise `PluginError` when `strict`."""
    if strict:
        raise PluginError(f"{message} (PTYRAX_STRICT_PLUGINS is set)") from cause
    warnings.warn(message, PluginWarning, stacklevel=_outside_core())


def _outside_core() -> int:
    """The stack level of the first caller outside ptyrax_core, for warnings to point at."""
    here = os.path.dirname(__file__)
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(here):
        frame, level = frame.f_back, level + 1
    return level


def installed(strict: bool) -> tuple[list[Plugin], dict[str, tuple[EntryPoint, str]]]:
    """A record per installed entry point of the group `ptyrax`, in order of distribution name
    (then entry-point name), each with the declarations of its distribution that are its own;
    and the kinds the distributions define, plural -> (entry point, distribution)."""
    found = _entry_points()
    plugins = sorted(
        (Plugin(ep.name, dist, ep.module, ep.load) for ep, dist in found if ep.group == GROUP),
        key=lambda p: (p.distribution.lower(), p.name),
    )
    kinds: dict[str, tuple[EntryPoint, str]] = {}
    for ep, (dist, _) in found:
        if ep.group == KINDS_GROUP:
            if ep.name in kinds and kinds[ep.name][1] != dist:
                problem(
                    f"{dist} defines the kind {ep.name!r}, which {kinds[ep.name][1]} defines "
                    "already; the second definition is ignored.",
                    strict,
                )
            kinds.setdefault(ep.name, (ep, dist))
    for ep, (dist, _) in found:
        if ep.group in (GROUP, KINDS_GROUP):
            continue
        owner = _owner(ep, [p for p in plugins if p.distribution == dist])
        if owner is None:
            problem(
                f"{dist} declares {ep.name} = {ep.value!r} in the entry-point group "
                f"{ep.group}, but none of its plugins (group {GROUP}) is that module or a "
                "package holding it; the declaration is ignored.",
                strict,
            )
            continue
        owner.declared = owner.declared or {}
        owner.declared.setdefault(ep.group.removeprefix(f"{GROUP}."), {})[ep.name] = ep
    return plugins, kinds


def _entry_points() -> list[tuple[EntryPoint, tuple[str, str]]]:
    """The installed entry points of the group `ptyrax` and the groups `ptyrax.*`, each with
    its distribution's name and version.

    Only the entry points of distributions whose `entry_points.txt` names a `ptyrax` group are
    parsed: parsing every distribution's, as `importlib.metadata.entry_points()` does, took
    most of discovery. Of two installed copies of a plugin distribution, the first on
    `sys.path` counts, as for imports.
    """
    found, seen = [], set()
    for dist in importlib.metadata.distributions():
        text = dist.read_text("entry_points.txt")
        if not text or f"[{GROUP}" not in text:
            continue
        name, version = _name_and_version(dist)
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key not in seen:
            seen.add(key)
            found += [
                (ep, (name, version))
                for ep in dist.entry_points
                if ep.group == GROUP or ep.group.startswith(f"{GROUP}.")
            ]
    return found


def _name_and_version(dist: Distribution) -> tuple[str, str]:
    """The name and version of `dist`, from the headers of its metadata only: `dist.name` and
    `.version` parse the whole file, long description included, at each access (about
    0.4 ms)."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, colon, value = line.partition(":")
        if colon and key in ("Name", "Version"):
            fields.setdefault(key, value.strip())
    if "Name" not in fields:  # unusual metadata: let importlib.metadata read it
        return dist.name, dist.version
    return fields["Name"], fields.get("Version", "")


def _owner(ep: EntryPoint, plugins: list[Plugin]) -> Plugin | None:
    """The plugin whose module is, or is the package that holds, the module `ep` points to;
    its distribution's only plugin otherwise."""
    holding = [p for p in plugins if ep.module == p.module or ep.module.startswith(f"{p.module}.")]
    if holding:
        return max(holding, key=lambda p: len(p.module))
    return plugins[0] if len(plugins) == 1 else None
