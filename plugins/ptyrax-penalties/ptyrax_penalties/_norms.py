"""L1Penalty and L2Penalty: the size of an array, elementwise."""

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from ptyrax_reconstruct import Penalty

from ._arguments import real_number
from ._elementwise import magnitude, squared_magnitude


class L1Penalty(Penalty):
    """The L1 norm per element, `mean(|x|)`: favours sparse arrays (many exact zeros).

    `x` is real or complex, of any shape; `|x|` is the modulus of a complex value. The mean
    over every element (not the sum) keeps a weight's meaning whatever the array's size. The
    gradient is `sign(x) / n` (`x / (|x| n)` for complex values, `n` elements), and 0 where
    `x` is 0 (a subgradient: a value at zero stays there).

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from ptyrax_penalties import L1Penalty
        >>> l1 = L1Penalty()
        >>> l1(jnp.array([[3.0, -1.0], [0.0, 0.0]]))
        Array(1., dtype=float32)
        >>> l1(jnp.array([3 + 4j, 0j]))  # moduli 5 and 0
        Array(2.5, dtype=float32)
        >>> jax.grad(l1)(jnp.array([2.0, -1.0, 0.0, 5.0]))
        Array([ 0.25, -0.25,  0.  ,  0.25], dtype=float32)
    """

    registry_name: ClassVar[str] = "l1"

    def __call__(self, x: jax.Array) -> jax.Array:
        """`mean(|x|)`, a real scalar."""
        return jnp.mean(magnitude(jnp.asarray(x)))


class L2Penalty(Penalty):
    """Tikhonov regularization, the squared L2 distance per element: `mean(|x - target|**2)`.

    `x` is real or complex, of any shape; `target` is a real number (0: keep the values small;
    `target = 1` with `on = "amplitude"`: keep an object's amplitude near 1). The mean over
    every element keeps a weight's meaning whatever the array's size. The gradient is
    `2 (x - target) / n` for `n` elements.

    Arguments:
        target: the value the penalty pulls every element towards, a finite real number.

    Raises:
        TypeError: `target` is not a real number.
        ValueError: `target` is not finite.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from ptyrax_penalties import L2Penalty
        >>> L2Penalty()(jnp.array([1.0, -3.0]))  # (1 + 9) / 2
        Array(5., dtype=float32)
        >>> L2Penalty(target=1.0)(jnp.array([1.0, 1j]))  # (0 + |1j - 1|**2) / 2
        Array(1., dtype=float32)
        >>> jax.grad(L2Penalty(target=1.0))(jnp.array([1.0, 3.0]))
        Array([0., 2.], dtype=float32)
    """

    registry_name: ClassVar[str] = "l2"
    target: float = eqx.field(static=True)

    def __init__(self, target: float = 0.0):
        self.target = real_number(target, "target")

    def __call__(self, x: jax.Array) -> jax.Array:
        """`mean(|x - target|**2)`, a real scalar."""
        return jnp.mean(squared_magnitude(jnp.asarray(x) - self.target))
