"""OrthogonalModesArrayParametrization."""

from typing import ClassVar, Self

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Real

import ptyrax_core


class OrthogonalModesArrayParametrization(ptyrax_core.ArrayParametrization):
    """K incoherent probe modes, mutually orthogonal and sorted by power by construction.

    A mixed-state probe (the probe modes of PtyRAD, pty-chi and cdtools): the measured
    intensity is the sum of the modes' intensities, so only their density matrix
    `sum_k |mode_k><mode_k|` is physical, and orthogonal modes are its eigenvectors. Here
    orthogonality is a constraint by construction, not a step of the solver: the output
    `(K, P, Q)` complex has `sum(conj(mode_j) * mode_k) == 0` for `j != k` (to rounding), and
    powers `sum |mode_k|**2` that are positive and decreasing after any gradient step.

    The output, from the two trainable fields:

    - the `K` flattened rows of `basis` are orthonormalized by a QR decomposition
      (`jnp.linalg.qr`, differentiable) of the `(P*Q, K)` matrix of them, with the phases of
      `Q`'s columns chosen so that `R` has a real positive diagonal. That makes the map unique
      (Gram-Schmidt in order), and an orthonormal basis maps to itself, so `with_array`
      round-trips;
    - mode `k` is then scaled by `sqrt(power_k)`, with `power_{K-1} = exp(step_{K-1})` and
      `power_k = power_{k+1} + exp(step_k)`: positive, strictly decreasing.

    Both are kept at the scale a gradient step expects: `basis` holds the modes themselves
    (so a step on it is a step on a probe of that size, as for a direct probe), and the
    powers are trained through the logarithms of their differences (a step is a relative
    change of a power, whatever its size).

    Built from initial modes, which are orthogonalized as `with_array` does it: an
    orthogonal stack of decreasing powers is kept as it is.

    Arguments:
        initial_modes: `(K, P, Q)` modes (or one `(P, Q)` mode, `K = 1`), complex (a real or
            integer array becomes complex64; float64 becomes complex128 with x64 enabled),
            JAX or NumPy, with `K <= P * Q`. Where concrete (not traced) every value must be
            finite and the modes linearly independent.

    Attributes:
        basis: the trainable `(K, P, Q)` complex array, the modes at their scale; only the
            span of its first `k` rows for each `k` matters (what QR orthonormalizes).
        power_steps: the trainable `(K,)` real array: `exp(power_steps)` are the
            differences of successive powers, the last one the smallest power.

    Raises:
        ValueError: `initial_modes` is not 2-D or 3-D, has more modes than `P * Q` pixels
            (`K` larger than the probe allows), holds a NaN or infinite value, or its modes are
            all zero or linearly dependent (they cannot be orthogonalized).
        TypeError: `initial_modes` is not a numeric array.

    The engine's `ptyrax reconstruct` uses it with `[model.probe] type = "orthogonal_modes"`
    (and `model.probe_modes = K`): it starts the modes at its guess through `with_array`.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> modes = OrthogonalModesArrayParametrization(
        ...     jnp.array([[[2.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]])
        ... )
        >>> m = modes()
        >>> m.shape, m.dtype, modes.basis.shape, modes.power_steps.shape
        ((2, 2, 2), dtype('complex64'), (2, 2, 2), (2,))
        >>> gram = jnp.einsum("jpq,kpq->jk", m.conj(), m)  # diagonal: orthogonal, powers sorted
        >>> bool(abs(gram[0, 1]) < 1e-5), bool(gram[0, 0].real > gram[1, 1].real > 0)
        (True, True)
        >>> total = jnp.sum(jnp.abs(m) ** 2, axis=0)  # the incoherent intensity is kept
        >>> bool(jnp.allclose(total, jnp.array([[5.0, 1.0], [0.0, 0.0]]), atol=1e-5))
        True
        >>> g = jax.grad(lambda p: jnp.sum(jnp.abs(p()[1]) ** 2))(modes)  # the second power
        >>> [round(float(x), 4) for x in g.power_steps]  # the last step only: d exp(s)/ds
        [0.0, 0.7639]
    """

    registry_name: ClassVar[str] = "orthogonal_modes"
    basis: Complex[Array, "k p q"]
    power_steps: Real[Array, " k"]

    @ptyrax_core.typechecked
    def __init__(self, initial_modes: ptyrax_core.HostOrDeviceArray):
        dtype = initial_modes.dtype
        if not (dtype == np.bool_ or jnp.issubdtype(dtype, jnp.number)):
            raise TypeError(f"initial_modes must be a numeric array; got dtype {dtype}.")
        data = jnp.asarray(initial_modes)
        if not jnp.issubdtype(data.dtype, jnp.complexfloating):
            inexact = jnp.issubdtype(data.dtype, jnp.floating)
            data = data.astype(jnp.result_type(data.dtype, jnp.complex64) if inexact else "c8")
        if data.ndim == 2:
            data = data[None]
        if data.ndim != 3 or 0 in data.shape:
            raise ValueError(
                "initial_modes must be a (K, P, Q) stack of K probe modes of P x Q pixels (or "
                f"one (P, Q) mode); got shape {tuple(jnp.shape(initial_modes))}."
            )
        k, p, q = data.shape
        if k > p * q:
            raise ValueError(
                f"initial_modes has K = {k} modes of {p} x {q} pixels: K larger than the probe "
                f"allows, at most P * Q = {p * q} modes can be orthogonal."
            )
        if not isinstance(data, jax.core.Tracer):
            _check_independent(np.asarray(data))
        self.output_shape = (k, p, q)
        self.basis, self.power_steps = _decompose(data)

    def __call__(self) -> Complex[Array, "k p q"]:
        """The modes `(K, P, Q)`: orthonormalized `basis` rows times `sqrt(power)`."""
        k = self.output_shape[0]
        q, r = jnp.linalg.qr(self.basis.reshape(k, -1).T)  # (P*Q, K), (K, K)
        q = q * _phase(jnp.diagonal(r))[None, :]  # R with a real positive diagonal
        powers = jnp.cumsum(jnp.exp(self.power_steps)[::-1])[::-1]
        return (q.T * jnp.sqrt(powers).astype(q.dtype)[:, None]).reshape(self.output_shape)

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy whose modes are the orthogonal decomposition of `target`'s density matrix.

        `target` `(K, P, Q)` is reshaped to `(K, P*Q)` and decomposed, `target = U S V^H`
        (SVD); the modes are `mode_k = S_k V_k^H`, each times the phase that makes its overlap
        with `target_k` real positive. They are the eigenvectors of the density matrix
        `target^H target`, which they reproduce exactly (`sum_k |mode_k><mode_k|`), hence the
        same incoherent intensity `sum_k |target_k(r)|**2` at every pixel; their powers
        `S_k**2` come sorted, largest first. An orthogonal target of decreasing powers is
        given back as it is. Powers are stored through their differences, each raised to at
        least `eps` times the power below it (`eps` of the dtype): equal powers become
        decreasing by about one rounding, and a zero singular value (a rank-deficient target)
        gets the tiny power `eps**2` times the largest, an amplitude at the rounding of the
        output. Such a mode trains slowly (the gradient of a small power is proportional to
        it); the modes of equal powers are any orthonormal basis of their span.

        `target` is of shape `output_shape` (JAX or NumPy; real is read as complex). Works
        under `jax.jit`.

        Example:
            >>> import jax.numpy as jnp
            >>> modes = OrthogonalModesArrayParametrization(jnp.ones((2, 2, 2)).at[1, 0].set(-1))
            >>> target = jnp.array([[[0, 0], [0, 1j]], [[3, 0], [0, 0]]])  # orthogonal
            >>> copy = modes.with_array(target)
            >>> jnp.round(jnp.sum(jnp.abs(copy()) ** 2, axis=(1, 2)), 4)  # sorted powers
            Array([9., 1.], dtype=float32)
            >>> bool(jnp.allclose(copy(), target[::-1], atol=1e-6))  # the same modes, sorted
            True
        """
        data = ptyrax_core.read_target(target, self).astype(self.basis.dtype)
        basis, steps = _decompose(data)
        return eqx.tree_at(lambda p: (p.basis, p.power_steps), self, (basis, steps))


def _phase(z: Array) -> Array:
    """`z / |z|`, and 1 where `z` is 0."""
    size = jnp.abs(z)
    return jnp.where(size > 0, z / jnp.where(size > 0, size, 1), 1).astype(z.dtype)


def _decompose(modes: Array) -> tuple[Array, Array]:
    """`basis` and `power_steps` for the orthogonal decomposition of `modes` `(K, P, Q)`."""
    k = modes.shape[0]
    u, s, vh = jnp.linalg.svd(modes.reshape(k, -1), full_matrices=False)
    basis = ((_phase(jnp.diagonal(u)) * s.astype(vh.dtype))[:, None] * vh).reshape(modes.shape)
    powers = s**2  # decreasing
    below = jnp.append(powers[1:], 0)
    eps = jnp.finfo(powers.dtype).eps
    # a difference of at least eps * the power below (at least eps**2 * the largest power):
    # equal powers become decreasing by about an ulp, a zero power becomes eps**2 * the largest
    largest = jnp.where(powers[0] > 0, powers[0], 1)
    differences = jnp.maximum(powers - below, eps * jnp.maximum(below, eps * largest))
    steps = jnp.log(differences)
    return basis, steps


def _check_independent(data: np.ndarray) -> None:
    bad = ~np.isfinite(data)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"initial_modes must be finite everywhere; got {data[index]} at index {index}."
        )
    if not np.any(data):
        raise ValueError(
            "initial_modes is all zeros: zero modes cannot be orthogonalized. Start from the "
            "probe guess, with weaker, different modes after it (a phase ramp, say)."
        )
    k = data.shape[0]
    s = np.linalg.svd(data.reshape(k, -1).astype(np.complex128), compute_uv=False)
    tol = s[0] * max(data.reshape(k, -1).shape) * np.finfo(data.dtype).eps
    rank = int(np.sum(s > tol))
    if rank < k:
        raise ValueError(
            f"initial_modes holds {k} modes, but only {rank} are linearly independent (rank "
            f"{rank}): rank-deficient modes cannot be orthogonalized. Give each mode a "
            "different shape (a phase ramp, a shift), or use fewer modes."
        )
