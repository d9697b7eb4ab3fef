"""These tests need the distributions under tests/dists/ installed (tox's `registry` env)."""

import importlib.metadata
import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest

from ptyrax_core import _plugin, registry

DISTS = ("ptyrax-test-good", "ptyrax-test-broken", "ptyrax-test-clash")


def pytest_collection_modifyitems(config, items):
    missing = []
    for dist in DISTS:
        try:
            importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist)
    if missing:
        raise pytest.UsageError(
            f"the registry tests need {', '.join(missing)} installed: run them with "
            "`tox run -e registry`, or pip install tests/dists/*"
        )


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    """Plugins from source, as if installed: `fake_plugins({module: source}, entry_points)`,
    where entry_points lists (group, name, value) of the distribution ptyrax-fake 1.0.
    Returns the records of `registry.plugins()`."""
    monkeypatch.syspath_prepend(str(tmp_path))
    modules = []

    def install(sources, entry_points, load=True):
        for module, source in sources.items():
            (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
            modules.append(module)
        found = [
            (EntryPoint(name, value, group), ("ptyrax-fake", "1.0"))
            for group, name, value in entry_points
        ]
        monkeypatch.setattr(_plugin, "_entry_points", lambda: found)
        registry._forget()
        return registry.plugins() if load else None

    yield install
    for module in modules:
        sys.modules.pop(module, None)
