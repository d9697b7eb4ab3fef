"""A plugin that declares the registry name `declared_only` but registers `registered`."""

from typing import ClassVar

from jaxtyping import Array

import ptyrax_core


class RegisteredArrayParametrization(ptyrax_core.DirectArrayParametrization):
    registry_name: ClassVar[str] = "registered"

    def __call__(self) -> Array:
        return self._data


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [RegisteredArrayParametrization]
