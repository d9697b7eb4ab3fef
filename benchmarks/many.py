"""b. Many small parametrizations: trace + compile time, and the time of a call of the jitted
step, against the same pytree of raw arrays.

The model is a dict of N small (8x8) parametrizations, in turn direct, phase-only and
normalized; the raw side is a dict of their arrays under the same keys, and its loss computes
`exp(1j * phase)` and `data * scale` by hand where the parametrizations would. The step is
`jax.jit(jax.value_and_grad(loss))` with `loss = sum_k sum(|a_k - 0.5|^2)`.

- trace + compile: a new `jax.jit` each time, `.lower(model).compile()`: what a user waits
  for at the first step, or at each step when something forces a retrace.
- call, model in: `step(model)`, the compiled step called as a reconstruction loop calls it,
  timed until its loss is ready (one XLA execution, so the gradients are too). This includes
  what the jitted call does in Python: flatten the model, look up the compiled program, build
  the gradients' pytree.
- call, packed model in: the same step called with `ptyrax_core.pack(model)` (packed once,
  outside the loop, as a reconstruction loop keeps it: gradients and optimizer updates come
  back packed), against the same dict of raw arrays as above.
"""

import jax
import jax.numpy as jnp
import numpy as np
from ptyrax_normalized import NormalizedArrayParametrization
from ptyrax_phase_only import PhaseOnlyArrayParametrization

from ptyrax_core import DirectArrayParametrization, pack, resolve_parametrizations

from ._report import Row
from ._timing import Paired, compare_ops, format_ratio, interleaved, ms, op_histogram, pairs_of

TITLE = "b. many small parametrizations"
SIZE = 8
SCALE = 4.0
COUNTS = {"full": (10, 100, 1000), "smoke": (3, 12)}
# pairs: (trace + compile, calls) per count
PAIRS = {
    "full": {10: (12, 200), 100: (7, 150), 1000: (3, 100)},
    "smoke": {3: (1, 3), 12: (1, 3)},
}
CALLS = 5  # timed calls a side per pair, after an untimed one
TARGET = 1.1
TARGET_AT = 1000
KINDS = ("direct", "phase_only", "normalized")
MODEL_IN = (
    "not judged: jax.jit flattens each equinox module, and builds each gradient module, in "
    "Python, a few us a parametrization a call (a dict of arrays: in C++). Design change: "
    "parametrizations read attributes as plain objects do (equinox's Python __getattribute__ "
    "cost 2 us more a parametrization; N = 1000 was 1.85x), and ptyrax_core.pack (next row)"
)
PACKED_IN = (
    "design change: ptyrax_core.pack(model) makes the model one pytree node over its leaves, "
    "which the resolvers unpack inside the step; N = 1000 passing the equinox modules was "
    "1.85x, then 1.49x (previous row). The way to call a step with many parametrizations "
    "(Performance page, Many parametrizations)"
)


def models(n: int):
    """N parametrizations, and the raw arrays they hold, under the same keys."""
    rng = np.random.default_rng(0)
    model, raw = {}, {}
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        key = f"{kind}_{i:04d}"
        x = jnp.asarray(rng.normal(size=(SIZE, SIZE)), jnp.float32)
        if kind == "direct":
            model[key] = DirectArrayParametrization(x)
            raw[key] = x
        elif kind == "phase_only":
            model[key] = PhaseOnlyArrayParametrization((SIZE, SIZE), lambda s, x=x: x)
            raw[key] = x
        else:
            model[key] = NormalizedArrayParametrization(SCALE * x, scale=SCALE)
            raw[key] = model[key]._data
    return model, raw


def _loss(arrays: dict) -> jax.Array:
    return sum(jnp.sum(jnp.abs(a - 0.5) ** 2) for a in arrays.values())


def parametrized_loss(model: dict) -> jax.Array:
    return _loss(resolve_parametrizations(model))


def _by_hand(key: str, x: jax.Array) -> jax.Array:
    if key.startswith("phase_only"):
        return jnp.exp(1j * x)
    if key.startswith("normalized"):
        return x * SCALE
    return x


def raw_loss(raw: dict) -> jax.Array:
    return _loss({k: _by_hand(k, x) for k, x in raw.items()})


def _trace_and_compile(loss, tree, keep: list):
    """A new jitted step, traced and compiled for `tree`; `keep` holds it after."""
    step = jax.jit(jax.value_and_grad(loss))
    step.lower(tree).compile()  # also fills `step`'s cache: its calls do not compile again
    keep[:] = [step]


def _calls(step, tree, raw_step, raw, pairs: int) -> Paired:
    """Calls of the jitted steps `step(tree)` and `raw_step(raw)`, paired."""
    np.testing.assert_allclose(step(tree)[0], raw_step(raw)[0], rtol=1e-5)
    return interleaved(
        lambda: step(tree)[0].block_until_ready(),
        lambda: raw_step(raw)[0].block_until_ready(),
        pairs,
        calls=CALLS,
        warm=True,
    )


def run(mode: str) -> list[Row]:
    judged = mode == "full"
    rows = []
    for n in COUNTS[mode]:
        compile_pairs, call_pairs = PAIRS[mode][n]
        model, raw = models(n)
        target_here = n == TARGET_AT
        target = f"<= {TARGET}" if target_here else ""

        def met(paired: Paired, target_here: bool = target_here) -> bool | None:
            return paired.ratio <= TARGET if judged and target_here else None

        step: list = []  # the last compiled steps, reused to time calls
        raw_step: list = []
        compiled = interleaved(
            lambda model=model, keep=step: _trace_and_compile(parametrized_loss, model, keep),
            lambda raw=raw, keep=raw_step: _trace_and_compile(raw_loss, raw, keep),
            compile_pairs,
            warmup=1 if n < TARGET_AT else 0,  # a compile at N = 1000 takes 15 s here
        )
        rows.append(
            Row(
                TITLE,
                f"N = {n}: trace + compile",
                ms(compiled.a_median),
                ms(compiled.b_median),
                format_ratio(compiled),
                target,
                met(compiled),
                f"{pairs_of(compile_pairs)}; programs: "
                + compare_ops(
                    op_histogram(step[0].lower(model).compile()),  # compiled already: cached
                    op_histogram(raw_step[0].lower(raw).compile()),
                )[1],
            )
        )
        calls = _calls(step[0], model, raw_step[0], raw, call_pairs)
        rows.append(
            Row(
                TITLE,
                f"N = {n}: call, model in",
                ms(calls.a_median),
                ms(calls.b_median),
                format_ratio(calls),
                "",
                None,
                pairs_of(call_pairs, CALLS) + ("; " + MODEL_IN if target_here else ""),
            )
        )
        packed = _calls(step[0], pack(model), raw_step[0], raw, call_pairs)
        rows.append(
            Row(
                TITLE,
                f"N = {n}: call, packed model in",
                ms(packed.a_median),
                ms(packed.b_median),
                format_ratio(packed),
                target,
                met(packed),
                pairs_of(call_pairs, CALLS) + ("; " + PACKED_IN if target_here else ""),
            )
        )
    return rows
