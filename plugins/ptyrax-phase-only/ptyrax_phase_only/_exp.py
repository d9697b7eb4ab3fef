"""e^{i phi}, in JAX and in NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex

import ptyrax_core


def _refuse_complex(phase, name: str) -> None:
    if jnp.iscomplexobj(phase):
        raise ValueError(f"{name}: phase must be real (radians); got dtype {phase.dtype}.")


@ptyrax_core.typechecked
def phase_only_exp(phase: ptyrax_core.HostOrDeviceArray) -> Complex[Array, "..."]:
    """The unit-magnitude complex array `exp(1j * phase)`, in JAX.

    Computed by `ptyrax_core.expi`: for float32 a range reduction and two polynomials, within
    1.3e-7 of the exact value and about 15 times faster than `jnp.exp(1j * phase)` on a CPU;
    the backward pass reuses the forward result.

    Arguments:
        phase: real phases in radians, any shape (a JAX or NumPy array).

    Raises:
        ValueError: `phase` is complex.

    Example:
        >>> import jax.numpy as jnp
        >>> phase_only_exp(jnp.zeros(2))
        Array([1.+0.j, 1.+0.j], dtype=complex64)
        >>> jnp.allclose(jnp.abs(phase_only_exp(jnp.array([0.5, -2.0]))), 1.0)
        Array(True, dtype=bool)
    """
    _refuse_complex(phase, "phase_only_exp")
    return ptyrax_core.expi(phase)


def phase_only_exp_np(phase: np.ndarray) -> np.ndarray:
    """The unit-magnitude complex array `exp(1j * phase)`, in NumPy (host side, not for jit).

    Arguments:
        phase: real phases in radians, a NumPy array (or anything `np.asarray` takes).

    Raises:
        ValueError: `phase` is complex.
        TypeError: `phase` is a traced JAX value; use `phase_only_exp` inside `jax.jit`.

    Example:
        >>> import numpy as np
        >>> phase_only_exp_np(np.zeros(2))
        array([1.+0.j, 1.+0.j])
    """
    if isinstance(phase, jax.core.Tracer):
        raise TypeError("phase_only_exp_np runs on the host; inside jax.jit use phase_only_exp.")
    phase = np.asarray(phase)
    _refuse_complex(phase, "phase_only_exp_np")
    if not np.issubdtype(phase.dtype, np.number):
        raise TypeError(f"phase_only_exp_np: phase must be numeric; got dtype {phase.dtype}.")
    return np.exp(1j * phase)
