"""A plugin whose hook raises."""

import ptyrax_core


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    raise RuntimeError("this hook is broken on purpose")
