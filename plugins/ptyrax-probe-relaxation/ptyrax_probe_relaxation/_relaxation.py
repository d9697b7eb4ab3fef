"""ProbeRelaxationParameter."""

import math
from typing import Any, ClassVar, Self

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex

import ptyrax_core

_HIGHEST = jax.lax.Precision.HIGHEST


class ProbeRelaxationParameter(ptyrax_core.IndexDependentParameter[jax.Array]):
    """One probe per scan position, all in an `R`-dimensional subspace: orthogonal probe relaxation.

    The illumination of a real scan drifts: the beam moves, the optics heat up, the source
    flickers, so one probe for every position is a compromise. Orthogonal probe relaxation
    (OPR; Odstrčil et al., Opt. Express 24, 8360 (2016), and the least-squares solver of
    Odstrčil, Menzel and Guizar-Sicairos, Opt. Express 26, 3108 (2018)) gives every position
    its own probe, but keeps them all in a common subspace of small dimension `R`: position
    `i` sees `sum_r weights[i, r] * eigenprobes[r]`. Solvers enforce that by a truncated SVD of
    the per-position probes after each update; here it is a constraint by construction, as
    `R` eigenprobes and `N x R` weights are all the parameter holds (`R (P Q + N)` numbers for
    `N` probes of `P x Q`, where `N` free probes would be `N P Q`). `R = 1` is one probe with
    a complex scale (intensity, phase) per position.

    The value at index `i` is `sum_r weights[i, r] * eigenprobes[r]`, of the probe's shape
    `(P, Q)`, or `(K, P, Q)` for `K` incoherent modes (each position's modes in the subspace;
    the density-matrix modes of `ptyrax-probe-modes` are another parametrization). `all`
    gives every position's probe, `(N, *probe_shape)`. Both fields are trainable, complex, of
    the dtype of the probes. The constructor takes the probes at every position and
    decomposes them as [`with_array`][ptyrax_probe_relaxation.ProbeRelaxationParameter.with_array]
    does: the best rank-`R` approximation, weights of size 1 and eigenprobes at the probes'
    scale.

    `ptyrax reconstruct` uses it as `[model.probe] type = "probe_relaxation"` with
    `rank = R`: the engine fills `probes` with its probe guess at every position and calls
    `with_array`. The guess is the same at every position, a rank-1 target: eigenprobes
    `1 .. R-1` start at zero, with weights that vary across positions (see `with_array`), so
    the gradients reach them from the first step.

    Arguments:
        probes: the probe at every position, shape `(N, P, Q)` or `(N, K, P, Q)`, complex (a
            real or integer array becomes complex64; float64 becomes complex128 with x64
            enabled), JAX or NumPy, every value finite (checked where concrete).
        rank: `R`, the dimension of the probes' subspace (static), `1 <= R <= min(N, M)`
            with `M` the number of values in one probe (`P Q` or `K P Q`).

    Attributes:
        eigenprobes: the trainable `(R, *probe_shape)` basis of the probes' subspace.
        weights: the trainable `(N, R)` coefficients of each position's probe in it.

    Raises:
        ValueError: `probes` is not 3-D or 4-D, has an empty axis or a value that is not
            finite; `rank` is below 1 or larger than the probes allow (`min(N, M)`).
        TypeError: `probes` is not a numeric array (or is boolean); `rank` is not an int (a
            bool is refused). Each names the argument.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> spot = jnp.array([[0.0, 1.0], [1.0, 2.0]])
        >>> probes = jnp.stack([spot, 2.0 * spot, 1j * spot])  # N = 3 positions, rank 1
        >>> p = ProbeRelaxationParameter(probes, rank=1)
        >>> p.n, p.rank, p.probe_shape, p.eigenprobes.shape, p.weights.shape
        (3, 1, (2, 2), (1, 2, 2), (3, 1))
        >>> bool(jnp.allclose(p.all, probes, atol=1e-5)), p.at_index(1).dtype
        (True, dtype('complex64'))
        >>> grads = jax.grad(lambda p: jnp.sum(jnp.abs(p.at_index(2)) ** 2))(p)
        >>> grads.weights.shape, bool(jnp.any(grads.weights[2])), bool(jnp.any(grads.weights[0]))
        ((3, 1), True, False)
    """

    registry_name: ClassVar[str] = "probe_relaxation"
    eigenprobes: Complex[Array, "..."]
    weights: Complex[Array, "*stack n r"]

    @ptyrax_core.typechecked
    def __init__(self, probes: ptyrax_core.HostOrDeviceArray, rank: int = 1):
        if isinstance(rank, bool):
            raise TypeError(f"rank must be an int, the dimension of the subspace; got {rank!r}.")
        dtype = probes.dtype
        if dtype == np.bool_ or not jnp.issubdtype(dtype, jnp.number):
            raise TypeError(
                f"probes must be a numeric array of probes (complex, or real read as complex); "
                f"got dtype {dtype}."
            )
        if probes.ndim not in (3, 4) or 0 in probes.shape:
            raise ValueError(
                "probes must have shape (N, P, Q), one P x Q probe per position, or "
                f"(N, K, P, Q), K incoherent modes per position; got shape {tuple(probes.shape)}."
            )
        n, size = probes.shape[0], math.prod(probes.shape[1:])
        if rank < 1 or rank > min(n, size):
            raise ValueError(
                f"rank must be at least 1 and at most min(N, M) = {min(n, size)} for N = {n} "
                f"probes of M = {size} values; got rank = {rank}"
                + (": larger than the probes allow." if rank > 1 else ".")
            )
        data = jnp.asarray(probes)
        if not jnp.issubdtype(data.dtype, jnp.complexfloating):
            inexact = jnp.issubdtype(data.dtype, jnp.floating)
            data = data.astype(jnp.result_type(data.dtype, jnp.complex64) if inexact else "c8")
        if not isinstance(data, jax.core.Tracer):
            bad = ~np.isfinite(np.asarray(data))
            if bad.any():
                index = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(
                    f"probes must be finite; got {np.asarray(data)[index]} at index {index}."
                )
        self.eigenprobes, self.weights = _decompose(data, rank)

    @property
    def n(self) -> int:
        """The number of positions, `N`."""
        return self.weights.shape[len(self.stack_shape)]

    @property
    def rank(self) -> int:
        """`R`, the dimension of the probes' subspace (static: from the shapes)."""
        return self.weights.shape[-1]

    @property
    def probe_shape(self) -> tuple[int, ...]:
        """The shape of one probe, `(P, Q)` or `(K, P, Q)` (static: from the shapes)."""
        return tuple(self.eigenprobes.shape[len(self.stack_shape) + 1 :])

    @property
    def all(self) -> Complex[Array, "..."]:
        """Every position's probe, shape `(N, *probe_shape)` (a stack's axes first)."""
        return self._probes(slice(None))

    def at_index(self, index: Any) -> Complex[Array, "..."]:
        """The probe at position `index`: `sum_r weights[index, r] * eigenprobes[r]`.

        `index` is an int or an integer scalar array, traced ones included (clamped into range,
        as JAX indexing does). A concrete index outside `[-N, N)` raises `IndexError`.
        """
        ptyrax_core.check_index(index, n=self.n, of="positions")
        return self._probes(index)

    def _probes(self, index: Any) -> jax.Array:
        """The probes at `index` (an index or a slice) of the position axis."""
        depth = len(self.stack_shape)  # a stack's axes come first
        weights = self.weights[(slice(None),) * depth + (index,)]
        flat = self.eigenprobes.reshape(*self.eigenprobes.shape[: depth + 1], -1)
        pattern = "...nr,...rm->...nm" if isinstance(index, slice) else "...r,...rm->...m"
        out = jnp.einsum(pattern, weights, flat, precision=_HIGHEST)
        return out.reshape(*out.shape[:-1], *self.probe_shape)

    def with_array(self, target: ptyrax_core.HostOrDeviceArray) -> Self:
        """A copy whose probes are the best rank-`R` approximation of `target` `(N, *probe_shape)`.

        The truncated SVD of `target` reshaped to `(N, M)`, `U S V^H` (Eckart-Young: no rank-`R`
        set of probes is closer in the Frobenius norm): `weights = sqrt(N) U_R`, of size 1 per
        entry on average, and `eigenprobes = S_R V_R^H / sqrt(N)`, at the scale of the probes.
        A target of rank `R` or less comes back to rounding; a parameter's own `all` too.

        The result is the same on any machine, to rounding, where the SVD is unique (distinct
        singular values):

        - each component's phase is chosen so that the sum over positions of its weights is
          real and positive (where that sum is not about 0, which the largest-magnitude weight
          decides instead), its conjugate applied to its eigenprobe;
        - a component whose singular value is negligible (at most `s_0 eps max(N, M)`, `eps`
          of the dtype, or all of them for a zero target) gets a zero eigenprobe, and weights
          that do not depend on LAPACK: the DCT-II column `cos(pi r (i + 1/2) / N)` (`r` the
          component, `i` the position), orthogonalized against the earlier columns by QR in
          Gram-Schmidt order (its overlap with the DCT column real positive), times
          `sqrt(N)`. They vary across positions, so that gradients reach the zero eigenprobes
          (zero eigenprobes with zero weights would be a saddle the fit never leaves).

        `target` is read as complex (JAX or NumPy; real gets a zero imaginary part); another
        shape raises `ValueError`. Works under `jax.jit`. A stack takes no target: call it on
        each member.

        Example:
            >>> import jax.numpy as jnp
            >>> probe = jnp.array([[1.0, 2.0j], [0.5, -1.0]])
            >>> p = ProbeRelaxationParameter(jnp.stack([probe] * 4), rank=2)  # the same probe
            >>> p.weights.round(3)  # a constant, and half a cosine over the positions
            Array([[ 1.   +0.j,  1.307+0.j],
                   [ 1.   +0.j,  0.541+0.j],
                   [ 1.   +0.j, -0.541+0.j],
                   [ 1.   +0.j, -1.307+0.j]], dtype=complex64)
            >>> bool(jnp.all(p.eigenprobes[1] == 0)), bool(jnp.allclose(p.all[3], probe))
            (True, True)
            >>> drifted = p.with_array(jnp.stack([probe * (1 + 0.1 * i) for i in range(4)]))
            >>> bool(jnp.allclose(drifted.all[3], 1.3 * probe, atol=1e-5))
            True
        """
        if self.stack_shape:
            raise ValueError(
                f"with_array fits one member; this is a stack of shape {self.stack_shape}. "
                "Call it on each member."
            )
        like = jax.ShapeDtypeStruct((self.n, *self.probe_shape), self.eigenprobes.dtype)
        data = ptyrax_core.read_target(target, like)
        eigenprobes, weights = _decompose(data, self.rank)
        return eqx.tree_at(lambda p: (p.eigenprobes, p.weights), self, (eigenprobes, weights))


def _decompose(probes: Array, rank: int) -> tuple[Array, Array]:
    """`eigenprobes` `(R, *shape)` and `weights` `(N, R)` of `probes` `(N, *shape)`."""
    n, shape = probes.shape[0], probes.shape[1:]
    matrix = probes.reshape(n, -1)
    eps = jnp.finfo(matrix.dtype).eps
    with jax.default_matmul_precision("highest"):
        u, s, vh = jnp.linalg.svd(matrix, full_matrices=False)
        u, s, vh = u[:, :rank], s[:rank], vh[:rank]
        # negligible components (a suffix: s decreases) have arbitrary singular vectors
        negligible = ((s <= s[0] * eps * max(matrix.shape)) & (jnp.arange(rank) > 0)) | (s[0] == 0)
        i, r = np.arange(n)[:, None] + 0.5, np.arange(rank)[None, :]
        dct = jnp.asarray(np.cos(np.pi * r * i / n), u.dtype)
        q, triangle = jnp.linalg.qr(jnp.where(negligible, dct, u))  # Gram-Schmidt order
    diagonal = jnp.diagonal(triangle)
    q = q * jnp.where(diagonal == 0, 1, diagonal / jnp.abs(diagonal))  # R's diagonal > 0
    u = jnp.where(negligible, q, u)
    # the phase of the other components: the sum of the weights real positive, or (where that
    # sum is about 0, to the rounding of the SVD) the largest-magnitude weight
    total = jnp.sum(u, axis=0)
    largest = jnp.take_along_axis(u, jnp.argmax(jnp.abs(u), axis=0)[None], axis=0)[0]
    small = jnp.abs(total) <= 8 * eps * max(matrix.shape) * math.sqrt(n)
    reference = jnp.where(small, largest, total)
    phase = jnp.where(negligible, 1, reference / jnp.abs(reference))
    weights = math.sqrt(n) * (u * phase.conj())
    scale = jnp.where(negligible, 0, s) / math.sqrt(n)
    eigenprobes = (scale * phase)[:, None] * vh
    return eigenprobes.reshape(rank, *shape), weights
