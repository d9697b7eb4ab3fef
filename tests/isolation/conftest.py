"""Run by each plugin's tox env, which installs core and that one plugin only."""

import os

import pytest

from ptyrax_core._firstparty import EXPORTS, OTHER_KINDS


@pytest.fixture
def isolated_distribution():
    """The one first-party plugin distribution this environment installs (a distribution of
    the engine's kinds, `OTHER_KINDS`: for the licence test only, with the engine beside it)."""
    dist = os.environ.get("PTYRAX_ISOLATED_PLUGIN")
    if dist not in EXPORTS and dist not in OTHER_KINDS:
        raise pytest.UsageError(
            "set PTYRAX_ISOLATED_PLUGIN to the one installed first-party plugin distribution "
            f"({', '.join([*EXPORTS, *OTHER_KINDS])}); tox's plugin-* envs do."
        )
    return dist
