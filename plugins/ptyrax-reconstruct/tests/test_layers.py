"""The engine's layers: the command on the run, the run on the fit, the fit on the forward
model and the readers; no module imports one above it (so none imports in a circle)."""

import ast
import pathlib

import ptyrax_reconstruct

LAYERS = [
    {"_errors", "_loss", "_propagate", "_score", "_units"},
    {"_outputs", "_frc"},
    {"_memory", "_geometry", "_cxi", "_distributed", "_forward", "_penalties"},
    {"_guess", "_model", "_config", "_calibration"},
    {"_readers"},
    {"_array_reader"},
    {"_formats", "_fit"},
    {"_run"},
    {"_command", "_inspect", "testing"},
    {"_frc_command"},
]
"""Lowest first: a module imports only modules of the layers below its own."""
PACKAGE = pathlib.Path(ptyrax_reconstruct.__file__).parent


def _imports(path: pathlib.Path) -> set[str]:
    """The package's modules that `path` imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {a.name for a in node.names}
    return found


def test_every_module_has_a_layer_and_imports_only_from_below_it():
    rank = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert modules == set(rank), f"place each module in a layer: {modules ^ set(rank)}"
    above = {
        (name, imported)
        for name in modules
        for imported in _imports(PACKAGE / f"{name}.py")
        if rank.get(imported, -1) >= rank[name]
    }
    assert not above, f"imports of a module at or above the importer's layer: {sorted(above)}"
