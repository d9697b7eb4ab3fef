import pytest


@pytest.fixture
def core_only(plugin_env):
    """Discover core's built-ins only, strictly, whatever else is installed."""
    plugin_env(PTYRAX_DISABLE_PLUGIN_AUTOLOAD="1", PTYRAX_STRICT_PLUGINS="1")
