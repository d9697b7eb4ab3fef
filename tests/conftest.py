import os

import pytest

from ptyrax_core import registry

PLUGIN_ENV = ("PTYRAX_STRICT_PLUGINS", "PTYRAX_DISABLE_PLUGIN_AUTOLOAD", "PTYRAX_PLUGINS")


@pytest.fixture(autouse=True)
def _fresh_registry():
    """Each test discovers plugins anew, under the environment it sets."""
    registry._forget()
    yield
    registry._forget()


@pytest.fixture
def plugin_env(monkeypatch):
    """Set the registry's environment variables (None unsets), for the next discovery."""

    def set_env(**values):
        for name in PLUGIN_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in values.items():
            assert name in PLUGIN_ENV, name
            if value is not None:
                monkeypatch.setenv(name, value)
        registry._forget()

    return set_env


def pytest_report_header(config):
    return [f"{name}={os.environ.get(name)!r}" for name in PLUGIN_ENV]
