"""The engine's side of penalties: what a term sees of its component, and refusals before
the fit."""

import jax.numpy as jnp
import pytest
from ptyrax_reconstruct import Penalty
from ptyrax_reconstruct._errors import ReconstructError
from ptyrax_reconstruct._penalties import PARTS, Term, check_terms, penalty_sum

import ptyrax_core


class Power(Penalty):
    registry_name = "power_in_a_test"

    def __call__(self, x):
        return jnp.sum(jnp.abs(x) ** 2)


class Depth(Penalty):
    registry_name = "depth_in_a_test"

    def __call__(self, x):
        if x.ndim < 3:
            raise ValueError(f"x must have a slice axis; got shape {x.shape}")
        return jnp.sum(jnp.abs(jnp.diff(x, axis=-3)))


def test_a_per_position_probe_reaches_a_penalty_in_counts_like_a_shared_one():
    """The engine holds a per-position probe at unit scale and scales it in the forward
    model: a penalty sees it scaled, as it sees a shared probe (already scaled)."""
    term = (Term("probe", "value", 1.0, Power()),)
    modes = jnp.ones((1, 4, 4), jnp.complex64)
    shared = penalty_sum(term, {"probe": 3.0 * modes})
    per_position = ptyrax_core.IndexSliceParameter(jnp.stack([modes, modes]))
    scaled = penalty_sum(term, {"probe": per_position, "probe_scale": jnp.float32(3.0)})
    assert float(shared) == 9.0 * 16 and float(scaled) == 2 * float(shared)


def test_the_phase_of_zero_is_zero_with_a_finite_gradient():
    import jax

    grad = jax.grad(lambda x: jnp.sum(PARTS["phase"](x * (1 + 0j))))(jnp.zeros(3))
    assert float(PARTS["phase"](jnp.zeros(2, jnp.complex64))[0]) == 0.0
    assert bool(jnp.isfinite(grad).all())


def test_a_term_that_cannot_act_on_its_component_is_refused_by_its_table():
    arrays = {"object": jnp.ones((8, 8), jnp.complex64)}
    check_terms((Term("object", "value", 1.0, Power()),), arrays)
    with pytest.raises(ReconstructError, match=r"penalties\[1\]: Depth cannot act on the object"):
        check_terms(
            (Term("object", "phase", 1.0, Power()), Term("object", "value", 1.0, Depth())), arrays
        )
    check_terms((Term("object", "value", 1.0, Depth()),), {"object": jnp.ones((2, 8, 8))})
