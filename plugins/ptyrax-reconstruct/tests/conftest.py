import pathlib

import pytest

SCAN = pathlib.Path("examples", "data", "PETRAIII_P25_Near_Field_Ptycho.cxi")
EXAMPLE_CONFIG = pathlib.Path("examples", "petra-p25-near-field.toml")


def _repo_root() -> pathlib.Path:
    """The checkout that holds `examples/`: tests run from the repo root, and in tox against a
    built wheel, so the data is found from this file, not from the package or the cwd."""
    for folder in pathlib.Path(__file__).resolve().parents:
        if (folder / SCAN).is_file():
            return folder
    pytest.fail(f"no {SCAN} in any folder above {__file__}: the shipped scan is missing")


@pytest.fixture(scope="session")
def shipped_scan() -> pathlib.Path:
    """The measured PETRA III P25 near-field scan that ships in examples/data."""
    return _repo_root() / SCAN


@pytest.fixture(scope="session")
def example_config() -> pathlib.Path:
    """The example config for the shipped scan."""
    return _repo_root() / EXAMPLE_CONFIG


def pytest_configure(config):
    """A rising-loss warning in a run that a test expects to go well is a false alarm: an
    error (tests that expect one catch it with `pytest.warns`)."""
    config.addinivalue_line("filterwarnings", "error::ptyrax_reconstruct.RisingLossWarning")
