"""ptyrax-demo: `ptyrax demo`, a simulated ptychography reconstruction with the plugins.

Importing this module is cheap: the `ptyrax` command loads it to list the `demo` subcommand;
optax, matplotlib and the simulation load when the demo runs.
"""

import ptyrax_core


@ptyrax_core.hookimpl
def ptyrax_commands(commands):
    from ._command import add_parser

    add_parser(commands)
