"""A plugin that registers the name `scaled`, as ptyrax-test-good does."""

from typing import ClassVar

from jaxtyping import Array

import ptyrax_core


class OtherScaled(ptyrax_core.DirectArrayParametrization):
    registry_name: ClassVar[str] = "scaled"

    def __call__(self) -> Array:
        return -self._data


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [OtherScaled]
