"""The architecture's rules, read off the source: core imports no plugin; a plugin imports only
core's public API."""

import ast
import pathlib

import pytest

import ptyrax_core

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLUGIN_SOURCES = sorted(ROOT.glob("plugins/ptyrax-*/ptyrax_*/**/*.py"))
PUBLIC = {n for n in dir(ptyrax_core) if not n.startswith("_")}
PUBLIC_MODULES = {
    "ptyrax_core",
    "ptyrax_core.registry",
    "ptyrax_core.hookspecs",
    "ptyrax_core.parametrizations",
    "ptyrax_core.testing",  # the conformance kit and tolerances, for kits of other kinds
}


def imported(path):
    """(module, names) for every absolute import in the file."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module, tuple(a.name for a in node.names)


def core_violations(path):
    return [
        m for m, _ in imported(path) if m.startswith("ptyrax") and m.split(".")[0] != "ptyrax_core"
    ]


def plugin_violations(path):
    found = []
    for module, names in imported(path):
        if module.startswith("ptyrax_core"):
            if module not in PUBLIC_MODULES:
                found.append(module)
            elif module == "ptyrax_core":
                found += [f"ptyrax_core.{n}" for n in names if n not in PUBLIC]
    if "ptyrax_core._" in path.read_text():
        found.append("ptyrax_core._...")
    return found


def test_every_plugin_folder_is_checked():
    folders = {p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists()}
    assert folders and {p.relative_to(ROOT).parts[1] for p in PLUGIN_SOURCES} == folders


def test_the_checks_catch_violations(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import ptyrax_wavelet\nfrom ptyrax_core._array import resolve_arrays\n"
        "from ptyrax_core import as_array, _checks\nx = ptyrax_core._index\n"
    )
    assert core_violations(bad) == ["ptyrax_wavelet"]
    assert plugin_violations(bad) == [
        "ptyrax_core._array",
        "ptyrax_core._checks",
        "ptyrax_core._...",
    ]


@pytest.mark.parametrize("path", sorted(ROOT.glob("ptyrax_core/**/*.py")), ids=str)
def test_core_imports_no_plugin(path):
    assert core_violations(path) == []


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_public_api_of_core(path):
    assert plugin_violations(path) == []
