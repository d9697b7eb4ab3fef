"""ptyrax-core's pytest plugin (entry point group `pytest11`): the `ptyrax_example` fixture.

A test that takes `ptyrax_example` runs once per example instance that the loaded plugins
return from their `ptyrax_examples` hook. The ini option `ptyrax_example_plugins` (entry-point
names) narrows it to some plugins. Nothing is imported until a test asks for the fixture.
"""

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "ptyrax_example_plugins",
        "entry-point names of the plugins whose examples `ptyrax_example` covers (default: all)",
        type="args",
        default=[],
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "ptyrax_example" not in metafunc.fixturenames:
        return
    from ptyrax_core import registry

    wanted = metafunc.config.getini("ptyrax_example_plugins")
    cases = [
        (f"{plugin}-{type(example).__name__}-{i}", example)
        for plugin, examples in registry.examples().items()
        if not wanted or plugin in wanted
        for i, example in enumerate(examples)
    ]
    if not cases:
        raise pytest.UsageError(
            f"no loaded plugin among {wanted or 'all'} returns examples from ptyrax_examples."
        )
    metafunc.parametrize("ptyrax_example", [c for _, c in cases], ids=[i for i, _ in cases])
