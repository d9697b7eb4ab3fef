"""A working plugin: one parametrization and one helper function."""

from typing import ClassVar

import equinox as eqx
from jaxtyping import Array, Float

import ptyrax_core


class ScaledArrayParametrization(ptyrax_core.ArrayParametrization):
    """`factor * data`, the factor fixed (static)."""

    registry_name: ClassVar[str] = "scaled"
    data: Float[Array, "..."]
    factor: float = eqx.field(static=True)

    @ptyrax_core.typechecked
    def __init__(self, data: Float[Array, "..."], factor: float = 2.0):
        self.data = data
        self.factor = factor
        self.output_shape = data.shape

    def __call__(self) -> Float[Array, "..."]:
        return self.factor * self.data


def double(x):
    """Twice `x`."""
    return 2 * x


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [ScaledArrayParametrization]


@ptyrax_core.hookimpl
def ptyrax_functions():
    return [double]


def _hello(args):
    print(f"hello, {args.name}, from ptyrax-test-good")
    return 0


@ptyrax_core.hookimpl
def ptyrax_commands(commands):
    hello = commands.add_parser("good-hello", help="say hello (a plugin's command)")
    hello.add_argument("--name", default="world")
    hello.set_defaults(run=_hello)
