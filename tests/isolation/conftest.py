"""Run by each plugin's tox env, which installs core and that one plugin only."""

import os

import pytest

from ptyrax_core._firstparty import EXPORTS


@pytest.fixture
def isolated_distribution():
    """The one first-party plugin distribution this environment installs."""
    dist = os.environ.get("PTYRAX_ISOLATED_PLUGIN")
    if dist not in EXPORTS:
        raise pytest.UsageError(
            "set PTYRAX_ISOLATED_PLUGIN to the one installed first-party plugin distribution "
            f"({', '.join(EXPORTS)}); tox's plugin-* envs do."
        )
    return dist
