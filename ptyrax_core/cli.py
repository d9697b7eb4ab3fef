"""The `ptyrax` command."""

import argparse
import inspect
import json
import os
import pathlib
import sys
import warnings

from . import _scaffold, registry
from ._errors import PluginError, PluginWarning, UnknownNameError
from ._firstparty import COMMANDS
from ._version import __version__


def _plugins(args: argparse.Namespace) -> int:
    records = registry.plugins()
    if args.json:
        rows = [p._asdict() for p in records]
        for row in rows:
            row["parametrizations"] = list(row["parametrizations"])
            row["functions"] = list(row["functions"])
            row["contributions"] = {k: list(v) for k, v in row["contributions"].items()}
        print(json.dumps(rows, indent=2))
        return 0
    header = ("plugin", "distribution", "version", "contributes", "error")
    rows = [
        (
            p.name,
            p.distribution,
            p.version,
            _contributed(p.contributions),
            " ".join(p.error.split()) if p.error else "-",  # on one line
        )
        for p in records
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[4]]))
    return 0


def _contributed(contributions: dict[str, tuple[str, ...]]) -> str:
    """`direct, index_slice` for parametrizations; other kinds by name: `readers: cxi`."""
    parts = [
        ", ".join(names) if kind == registry.PARAMETRIZATIONS else f"{kind}: {', '.join(names)}"
        for kind, names in sorted(contributions.items(), key=lambda kv: kv[0] != "parametrizations")
    ]
    return "; ".join(parts) or "-"


def _show(args: argparse.Namespace) -> int:
    name = args.name
    kind = registry.kind_of(name)
    obj = registry.get(name, kind) if kind else registry.exports().get(name)
    if obj is None:
        registry.get(name)  # raises, naming what is registered and what to install
    key = obj.__dict__.get("registry_name", name) if isinstance(obj, type) else name
    kind = registry.kind_of(key)
    plugin = next(
        p
        for p in registry.plugins()
        if key in (*(n for names in p.contributions.values() for n in names), *p.functions)
    )
    if kind is None:
        what = "function"
    elif kind == registry.PARAMETRIZATIONS:
        what = f"registry name {key}"
    else:
        what = f"{registry.kind(kind).noun} {key}"
    print(f"{_public_name(obj)}  ({what}; {plugin.distribution} {plugin.version})\n")
    signature = inspect.signature(obj)
    parameters = [
        p.replace(default=_Shown(p.default)) if p.default is not p.empty else p
        for p in signature.parameters.values()
    ]
    print(f"{obj.__name__}(")
    for text in (str(p) for p in parameters):
        print(f"    {text},")
    returns = signature.return_annotation
    if isinstance(obj, type) or returns is signature.empty:
        print(")\n")
    else:
        print(f") -> {inspect.formatannotation(returns)}\n")
    doc = inspect.getdoc(obj) or "(no docstring)"
    print(doc.split("\n\n")[0])
    return 0


class _Shown:
    """A default value as `ptyrax show` prints it: a function by its name, not its address."""

    def __init__(self, value: object):
        self.value = value

    def __repr__(self) -> str:
        if callable(self.value) and hasattr(self.value, "__qualname__"):
            return f"{getattr(self.value, '__module__', None) or '?'}.{self.value.__qualname__}"
        return repr(self.value)


def _public_name(obj: object) -> str:
    """`package.Name` where the top-level package exports `obj`, else `module.Name`."""
    package = obj.__module__.split(".")[0]
    if getattr(sys.modules.get(package), obj.__name__, None) is obj:
        return f"{package}.{obj.__name__}"
    return f"{obj.__module__}.{obj.__qualname__}"


def _new_plugin(args: argparse.Namespace) -> int:
    target, written = _scaffold.new_plugin(args.name, args.output, args.kind)
    print(_scaffold.next_steps(args.name, target, written, args.kind))
    return 0


def _not_installed(name: str, dist: str) -> int:
    print(
        f"ptyrax: error: `ptyrax {name}` comes with the distribution {dist}, which is not "
        f"installed (or failed to load; see `ptyrax plugins`): pip install {dist}",
        file=sys.stderr,
    )
    return 2


def _add_missing_commands(commands: argparse._SubParsersAction) -> dict[str, str]:
    """First-party commands whose plugin is not loaded, listed with what to install."""
    missing = {name: dist for name, dist in COMMANDS.items() if name not in commands.choices}
    for name, dist in missing.items():
        commands.add_parser(name, help=f"(not installed: pip install {dist})")
    return missing


def main(argv: list[str] | None = None) -> int:
    """Run the `ptyrax` command; returns its exit status."""
    parser = argparse.ArgumentParser(
        prog="ptyrax", description="Array parametrizations for ptychography in JAX."
    )
    parser.add_argument("--version", action="version", version=f"ptyrax-core {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    plugins = commands.add_parser(
        "plugins",
        help="list the installed plugins and what they contribute (parametrizations and "
        "every other kind)",
    )
    plugins.add_argument("--json", action="store_true", help="print a JSON list of objects")
    plugins.set_defaults(run=_plugins)
    show = commands.add_parser(
        "show",
        help="show a registered class (of any kind) or function: its signature and summary",
        description="Show the class registered as NAME, of any kind (a parametrization, a "
        "reader, ...), or a name a plugin exports: where it comes from, its constructor's "
        "signature and the summary of its docstring.",
    )
    show.add_argument("name", metavar="NAME", help="a registry name, such as index_slice")
    show.set_defaults(run=_show)
    new_plugin = commands.add_parser(
        "new-plugin",
        help="create a new plugin distribution, ready to install and test",
        description="Create the folder ptyrax-NAME: a plugin distribution with an example "
        "parametrization (or a class of --kind), its hooks, tests (conformance included) and "
        "a README.",
    )
    new_plugin.add_argument(
        "name",
        metavar="NAME",
        help="the plugin's registry and entry-point name, snake_case (such as my_thing: "
        "distribution ptyrax-my-thing, module ptyrax_my_thing)",
    )
    new_plugin.add_argument(
        "--output",
        metavar="DIR",
        type=pathlib.Path,
        default=pathlib.Path("."),
        help="the folder to create ptyrax-NAME in (default: the current one)",
    )
    new_plugin.add_argument(
        "--kind",
        metavar="KIND",
        default="parametrizations",
        help="what the plugin contributes: parametrizations (default) or another kind an "
        "installed distribution defines with templates (the engine's readers, penalties)",
    )
    new_plugin.set_defaults(run=_new_plugin)
    try:
        with warnings.catch_warnings(record=True) as load_problems:
            warnings.simplefilter("always", PluginWarning)
            registry.plugins()
        with warnings.catch_warnings(record=True) as command_problems:
            warnings.simplefilter("always", PluginWarning)
            registry.add_commands(commands)
        missing = _add_missing_commands(commands)
        given = sys.argv[1:] if argv is None else argv
        if given and given[0] in missing:  # whatever its arguments
            return _not_installed(given[0], missing[given[0]])
        args = parser.parse_args(argv)
        shown = command_problems if args.run is _plugins else load_problems + command_problems
        for problem in shown:  # `ptyrax plugins` lists the load failures itself
            print(f"ptyrax: warning: {problem.message}", file=sys.stderr)
        status = args.run(args)
        sys.stdout.flush()  # a reader gone shows here (not at exit), for the except below
        return status
    except (PluginError, UnknownNameError) as e:
        print(f"ptyrax: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except _scaffold.ScaffoldError as e:
        print(f"ptyrax new-plugin: error: {e}", file=sys.stderr)
        return e.status
    except BrokenPipeError:  # the reader of the output left (`ptyrax plugins | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 1


if __name__ == "__main__":
    sys.exit(main())
