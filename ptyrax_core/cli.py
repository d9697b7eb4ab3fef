"""The `ptyrax` command."""

import argparse
import dataclasses
import json
import pathlib
import sys
import warnings

from . import _scaffold, registry
from ._errors import PluginError, PluginWarning
from ._version import __version__


def _status(plugin: registry.PluginInfo) -> str:
    return "(failed to load)" if plugin.error else "-"


def _plugins(args: argparse.Namespace) -> int:
    records = registry.plugins()
    if args.json:
        rows = [dataclasses.asdict(p) for p in records]
        for row in rows:
            row["parametrizations"] = list(row["parametrizations"])
            row["functions"] = list(row["functions"])
        print(json.dumps(rows, indent=2))
        return 0
    header = ("plugin", "distribution", "version", "parametrizations")
    rows = [
        (p.name, p.distribution, p.version, ", ".join(p.parametrizations) or _status(p))
        for p in records
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)), row[3])
    for p in records:
        if p.error:
            print(f"\n{p.name} ({p.distribution}) failed to load: {p.error}")
    return 0


def _new_plugin(args: argparse.Namespace) -> int:
    target, written = _scaffold.new_plugin(args.name, args.output)
    print(_scaffold.next_steps(args.name, target, written))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the `ptyrax` command; returns its exit status."""
    parser = argparse.ArgumentParser(
        prog="ptyrax", description="Array parametrizations for ptychography in JAX."
    )
    parser.add_argument("--version", action="version", version=f"ptyrax-core {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    plugins = commands.add_parser(
        "plugins", help="list the installed plugins and their parametrizations"
    )
    plugins.add_argument("--json", action="store_true", help="print a JSON list of objects")
    plugins.set_defaults(run=_plugins)
    new_plugin = commands.add_parser(
        "new-plugin",
        help="create a new plugin distribution, ready to install and test",
        description="Create the folder ptyrax-NAME: a plugin distribution with an example "
        "parametrization, its hooks, tests (conformance included) and a README.",
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
    new_plugin.set_defaults(run=_new_plugin)
    try:
        with warnings.catch_warnings(record=True) as load_problems:
            warnings.simplefilter("always", PluginWarning)
            registry.plugins()
        with warnings.catch_warnings(record=True) as command_problems:
            warnings.simplefilter("always", PluginWarning)
            registry.add_commands(commands)
        args = parser.parse_args(argv)
        shown = command_problems if args.run is _plugins else load_problems + command_problems
        for problem in shown:  # `ptyrax plugins` lists the load failures itself
            print(f"ptyrax: warning: {problem.message}", file=sys.stderr)
        return args.run(args)
    except PluginError as e:
        print(f"ptyrax: error: {e}", file=sys.stderr)
        return 1
    except _scaffold.ScaffoldError as e:
        print(f"ptyrax new-plugin: error: {e}", file=sys.stderr)
        return e.status


if __name__ == "__main__":
    sys.exit(main())
