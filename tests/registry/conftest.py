"""These tests need the distributions under tests/dists/ installed (tox's `registry` env)."""

import importlib.metadata

import pytest

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
