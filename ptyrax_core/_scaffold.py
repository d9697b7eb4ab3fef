"""`ptyrax new-plugin`: a new plugin distribution, from the templates in `templates/plugin/`
(a parametrization) or those of another kind (`Kind.template`, such as the engine's readers).

The templates are `string.Template` text: `${name}` (the registry and entry-point name,
`my_thing`), `${dist}` (`ptyrax-my-thing`), `${module}` (`ptyrax_my_thing`), `${cls}`
(`MyThingArrayParametrization`; `MyThingReader` for a reader) and `${core_requirement}`
(`ptyrax-core>=0.1,<0.2`).
"""

import keyword
import os
import pathlib
import re
import string
from importlib import resources
from typing import Any

from ._array import DirectArrayParametrization
from ._contributions import SNAKE_CASE as _SNAKE_CASE
from ._firstparty import OTHER_KINDS, REGISTRY_NAMES
from ._index import IndexSliceParameter
from ._version import __version__

_FILES = {  # template -> path in the new distribution (a template too)
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "__init__.py.tmpl": "${module}/__init__.py",
    "class.py.tmpl": "${module}/_${name}.py",
    "test_plugin.py.tmpl": "tests/test_${name}.py",
}

_TAKEN = {  # names a new plugin cannot have -> who has them
    "core": "ptyrax-core itself",
    DirectArrayParametrization.registry_name: "a built-in parametrization of ptyrax-core",
    IndexSliceParameter.registry_name: "a built-in parametrization of ptyrax-core",
    **{
        name: f"the first-party distribution {dist}"
        for dist, names in (*REGISTRY_NAMES.items(), *OTHER_KINDS.items())
        for name in (*names, dist.removeprefix("ptyrax-").replace("-", "_"))
    },
}


class ScaffoldError(Exception):
    """A plugin cannot be created here; `status` is the exit status for the command."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def check_name(name: str) -> None:
    """Raise `ScaffoldError` (status 2) unless `name` can name a new plugin."""
    if not (_SNAKE_CASE.match(name) and name.isidentifier()) or keyword.iskeyword(name):
        hint = name.replace("-", "_").lower()
        suggestion = (
            f" (such as {hint!r})"
            if hint != name and _SNAKE_CASE.match(hint) and not keyword.iskeyword(hint)
            else ""
        )
        why = "is a Python keyword" if keyword.iskeyword(name) else "is not one"
        raise ScaffoldError(
            f"NAME must be a snake_case Python identifier: lowercase letters, digits and single "
            f"underscores, starting with a letter, not a keyword{suggestion}; {name!r} {why}.",
            2,
        )
    if name in _TAKEN:
        raise ScaffoldError(f"the name {name!r} is taken by {_TAKEN[name]}; choose another.", 2)


def _core_requirement() -> str:
    major, minor = (int(n) for n in re.match(r"(\d+)\.(\d+)", __version__).groups())
    upper = f"0.{minor + 1}" if major == 0 else f"{major + 1}"
    return f"ptyrax-core>={major}.{minor},<{upper}"


def substitutions(name: str, noun: str = "array parametrization") -> dict[str, str]:
    """What the templates' placeholders stand for, for the plugin `name` of a class that is
    a `noun`."""
    return {
        "name": name,
        "dist": "ptyrax-" + name.replace("_", "-"),
        "module": f"ptyrax_{name}",
        "cls": "".join(part.capitalize() for part in (*name.split("_"), *noun.split())),
        "core_requirement": _core_requirement(),
    }


def _templates(kind: str) -> tuple[Any, str]:
    """The folder of templates of `kind`, and the noun of its classes."""
    if kind == "parametrizations":
        return resources.files("ptyrax_core") / "templates" / "plugin", "array parametrization"
    from . import registry

    try:
        found = registry.kind(kind)
    except KeyError as e:
        raise ScaffoldError(f"--kind: {e.args[0]}", 2) from None
    if found.template is None:
        raise ScaffoldError(f"--kind: the kind {kind!r} has no templates for a new plugin.", 2)
    package, _, folder = found.template.partition(":")
    return resources.files(package).joinpath(folder), found.noun


def new_plugin(
    name: str, output: pathlib.Path, kind: str = "parametrizations"
) -> tuple[pathlib.Path, list[str]]:
    """Write the distribution of a new plugin `name` that contributes a class of `kind` into
    a new folder in `output`.

    Returns:
        The new folder, and the paths of the files written in it.

    Raises:
        ScaffoldError: `name` or `kind` is not allowed (status 2); the folder exists or
            cannot be written (status 1).
    """
    check_name(name)
    templates, noun = _templates(kind)
    values = substitutions(name, noun)
    target = output / values["dist"]
    if target.exists():
        raise ScaffoldError(
            f"the folder {target} already exists; remove it, or choose another NAME or --output.",
            1,
        )
    written = []
    try:
        output.mkdir(parents=True, exist_ok=True)
        target.mkdir()
        for template, path in _FILES.items():
            path = string.Template(path).substitute(values)
            text = (templates / template).read_text(encoding="utf-8")
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            (target / path).write_text(string.Template(text).substitute(values), encoding="utf-8")
            written.append(path)
    except OSError as e:
        raise ScaffoldError(f"cannot write {e.filename or target}: {e.strerror or e}.", 1) from e
    return target, written


def next_steps(
    name: str, target: pathlib.Path, written: list[str], kind: str = "parametrizations"
) -> str:
    """What `ptyrax new-plugin` prints: the files it wrote, and what to do next."""
    values = substitutions(name, _templates(kind)[1])
    try:
        shown = "./" + pathlib.Path(os.path.relpath(target)).as_posix()
        if shown.startswith("./.."):
            shown = str(target.resolve())
    except ValueError:  # another drive
        shown = str(target.resolve())
    steps = [
        (f'pip install "{shown}[test]"', "installing it registers the plugin"),
        ("ptyrax plugins", f"lists {values['name']}"),
        (f"cd {shown} && PTYRAX_STRICT_PLUGINS=1 pytest", "its tests, conformance included"),
    ]
    width = max(len(command) for command, _ in steps)
    return "\n".join(
        [
            f"Created the ptyrax plugin {values['name']!r} in {shown}:",
            *(f"  {path}" for path in written),
            "",
            "Next steps:",
            *(f"  {command.ljust(width)}  # {comment}" for command, comment in steps),
            f"Then replace the example {values['cls']} in {values['module']}/_{values['name']}.py",
            'with yours, and update its tests (and hooks; see "Write a plugin" in the ptyrax',
            "documentation).",
        ]
    )
