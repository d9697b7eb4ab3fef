"""Loss penalties: terms added to the data term, a kind of class plugins contribute.

A penalty is an equinox module whose fields are its arguments; called on an array it returns
a real scalar. A config names it by registry name in a `[[loss.penalties]]` table with the
component it acts on, on what part of it (`on`) and its weight; every step adds
`weight * penalty(part)` to the data term (the mean loss per valid pixel and frame) inside
the same jitted call. The reported loss and deviance stay the data term alone.
"""

import abc
import dataclasses
import math
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

import ptyrax_core

from ._errors import ReconstructError

# atan(u) = u + u**3 P(u**2) for |u| <= tan(pi / 8): Cephes' atanf (S. L. Moshier), relative
# error 1.9e-7 at most on that range.
_ATAN = (8.05374449538e-2, -1.38776856032e-1, 1.99777106478e-1, -3.33329491539e-1)
_TAN_PI_8 = math.sqrt(2.0) - 1.0


def _atan2(y: jax.Array, x: jax.Array) -> jax.Array:
    """`atan2(y, x)` in `[-pi, pi]` from multiplications, divisions and selects, which XLA
    vectorizes (its own `atan2` on CPU is a scalar library call per element): the angle
    `t = min(|x|, |y|) / max(|x|, |y|)` in `[0, 1]`, reduced to `[-tan(pi/8), tan(pi/8)]`
    (`(t - 1) / (t + 1)`, plus pi/4) for the polynomial, then its octant. 0 at `x = y = 0`."""
    ax, ay = jnp.abs(x), jnp.abs(y)
    big, small = jnp.maximum(ax, ay), jnp.minimum(ax, ay)
    reduced = small > _TAN_PI_8 * big
    den = jnp.where(reduced, small + big, big)
    u = jnp.where(reduced, small - big, small) / jnp.where(den == 0, 1, den)
    z = u * u
    p = _ATAN[0]
    for c in _ATAN[1:]:
        p = p * z + c
    a = jnp.where(reduced, math.pi / 4, 0.0) + (u + u * z * p)
    a = jnp.where(ay > ax, math.pi / 2 - a, a)
    a = jnp.where(x < 0, math.pi - a, a)
    return jnp.where(jnp.signbit(y), -a, a)


@jax.custom_jvp
def _phase(x: jax.Array) -> jax.Array:
    return _atan2(jnp.imag(x), jnp.real(x))


@_phase.defjvp
def _phase_jvp(primals, tangents):
    """d phase(x) = Im(dx / x) = (re dim - im dre) / |x|**2, exactly; 0 at 0. As one complex
    product, the gradient is one pass over the array (a product of each real part by the
    cotangent is another)."""
    (x,), (dx,) = primals, tangents
    re, im = jnp.real(x), jnp.imag(x)
    s = re * re + im * im
    r = jnp.where(s == 0, 0, 1 / jnp.where(s == 0, 1, s))  # a real division, not a complex one
    inverse = jax.lax.complex(re * r, -im * r) if jnp.iscomplexobj(x) else re * r  # 1 / x
    return _atan2(im, re), jnp.imag(dx * inverse)


def phase(x: jax.Array) -> jax.Array:
    """The phase of `x` in `[-pi, pi]` (`x` complex, or real: 0 or pi), 0 where `x` is 0, with
    a finite gradient there (0).

    For float32 and complex64 it is computed from multiplications, one division and selects
    rather than XLA's `atan2`, a scalar library call per element on CPU (0.9 ms of the 1 ms
    that a total variation of the shipped scan's object phase and its gradient took, jitted
    alone; the polynomial: about 0.05 ms). It is within 3e-7 rad of the exact phase (XLA's
    `atan2`: 1.3e-7), and small phases keep their relative precision. Its gradient is the
    exact formula, `Im(dx / x) = (re dim - im dre) / |x|**2`, in float32 as for XLA's `atan2`
    (values that leave float32's normal range on the way, `|x|` beyond about 1e-18 or 1e18,
    give 0; `jnp.angle` gives nan below). Other types: `jnp.angle`.
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact) or jnp.finfo(x.dtype).bits > 32:
        return jnp.angle(jnp.where(x == 0, 1, x))
    return _phase(x)


PARTS = {
    "value": lambda x: x,
    "phase": phase,  # 0 at 0, with a finite gradient
    "amplitude": jnp.abs,
    "real": jnp.real,
    "imag": jnp.imag,
}
"""What of a component a penalty acts on (`on`): the array as it is, or a real part of it."""


class Penalty(eqx.Module):
    """A term of the loss: a real scalar of an array, the smaller the better.

    Subclass it with a snake_case class attribute `registry_name`, the arguments as fields
    (`eqx.field(static=True)` for configuration) and `__call__(x)`. `x` is the component's
    array, or the part of it the config names (`on`): real or complex, with the shape of the
    component (a multislice object: `(slices, rows, columns)`; the probe: `(modes, rows,
    columns)`, in the engine's units, square roots of counts).
    """

    registry_name: ClassVar[str]

    @abc.abstractmethod
    def __call__(self, x: jax.Array) -> jax.Array:
        """The penalty of `x`, a real scalar."""


PENALTIES = ptyrax_core.Kind(
    "penalties", "penalty", Penalty, template="ptyrax_reconstruct:templates/penalties"
)
"""The kind: plugins contribute penalties through the hook `ptyrax_penalties` and declare
them in the entry-point group `ptyrax.penalties`."""


@dataclasses.dataclass(frozen=True)
class PenaltySpec:
    """One `[[loss.penalties]]` table.

    Attributes:
        type: the penalty's registry name.
        component: the component it acts on (`object`, `probe`, ...).
        on: `value` (the array as it is), `phase`, `amplitude`, `real` or `imag`.
        weight: its factor in the loss, non-negative.
        arguments: the penalty's own arguments (the table's other keys).
    """

    type: str
    component: str
    on: str = "value"
    weight: float = 1.0
    arguments: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Term:
    """A built penalty, ready for the step: `weight * penalty(PARTS[on](array))`."""

    component: str
    on: str
    weight: float
    penalty: Penalty

    def __call__(self, arrays: dict) -> jax.Array:
        return self.weight * self.penalty(PARTS[self.on](arrays[self.component]))


def build_terms(specs: tuple[PenaltySpec, ...], components: list[str]) -> tuple[Term, ...]:
    """Each spec's penalty, built from the registry.

    Raises:
        ReconstructError: a type no installed plugin registers as a penalty, arguments the
            penalty does not take, or a component the model does not have.
    """
    terms = []
    for i, spec in enumerate(specs):
        where = f"config: loss.penalties[{i}]"
        if spec.component not in components:
            raise ReconstructError(
                f"{where}.component: the model has no {spec.component!r}; its components: "
                f"{', '.join(components)}"
            )
        try:
            cls = ptyrax_core.registry.get(spec.type, PENALTIES.plural)
        except KeyError as e:
            raise ReconstructError(f"{where}.type: {' '.join(str(e).split())}") from None
        try:
            penalty = cls(**spec.arguments)
        except (TypeError, ValueError) as e:
            raise ReconstructError(
                f"{where}: {spec.type} cannot be made from {spec.arguments}: {e}"
            ) from None
        terms.append(Term(spec.component, spec.on, spec.weight, penalty))
    return tuple(terms)


def penalty_sum(terms: tuple[Term, ...], arrays: dict) -> jax.Array:
    """The sum of every term on resolved `arrays` (index-dependent components at every
    index; a per-position probe, held at unit scale, times `probe_scale`), float32."""
    whole = ptyrax_core.resolve_index_dependent_parameters_all(
        {t.component: arrays[t.component] for t in terms}
    )
    if "probe" in whole and "probe_scale" in arrays:  # a per-position probe
        whole["probe"] = whole["probe"] * arrays["probe_scale"]
    return sum((t(whole) for t in terms), jnp.float32(0.0))


def check_terms(terms: tuple[Term, ...], arrays: dict) -> None:
    """Trace every term once on resolved `arrays` (shapes only, nothing computed), so that a
    penalty that cannot take its component (a depth penalty of a single-slice object, say)
    is refused before the fit, by name.

    Raises:
        ReconstructError: naming the table of the term that fails.
    """
    for i, term in enumerate(terms):
        try:
            value = jax.eval_shape(lambda a, term=term: penalty_sum((term,), a), arrays)
        except (TypeError, ValueError, IndexError) as e:
            raise ReconstructError(
                f"config: loss.penalties[{i}]: {type(term.penalty).__name__} cannot act on the "
                f"{term.component} ({term.on}): {' '.join(str(e).split())}"
            ) from None
        if value.shape != () or jnp.issubdtype(value.dtype, jnp.complexfloating):
            raise ReconstructError(
                f"config: loss.penalties[{i}]: {type(term.penalty).__name__} gives "
                f"{value.dtype} of shape {value.shape}, not a real number"
            )
