import pathlib
import sys

import pytest

from ptyrax_core.cli import main


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: builds a fresh virtual environment (about a minute); -m 'not slow' skips"
    )


@pytest.fixture
def scaffold(tmp_path, capsys):
    """Run `ptyrax new-plugin NAME --output tmp_path`; returns (exit status, stdout, stderr)."""

    def run(name, *args):
        status = main(["new-plugin", name, "--output", str(tmp_path), *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture
def generated(tmp_path, scaffold, monkeypatch, plugin_env):
    """A plugin made by `ptyrax new-plugin`, imported from its folder (not installed); the
    registry loads the built-ins only."""

    def make(name):
        status, _, err = scaffold(name)
        assert status == 0, err
        folder = tmp_path / f"ptyrax-{name.replace('_', '-')}"
        monkeypatch.syspath_prepend(str(folder))
        for module in [m for m in sys.modules if m.startswith(f"ptyrax_{name}")]:
            monkeypatch.delitem(sys.modules, module)
        plugin_env(PTYRAX_DISABLE_PLUGIN_AUTOLOAD="1", PTYRAX_STRICT_PLUGINS="1")
        return folder

    yield make
    for name, module in list(sys.modules.items()):
        if pathlib.Path(getattr(module, "__file__", None) or "/").is_relative_to(tmp_path):
            del sys.modules[name]
