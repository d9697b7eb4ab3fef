"""Time the jitted reconstruction `jax.jit(lambda p: p())` against `pywt.waverec2`.

    PTYRAX_PLUGINS=wavelet python plugins/ptyrax-wavelet/tools/bench_reconstruct.py [size] [runs]

For a float32 size x size array (default 1024), medians in ms of:
- the reconstruction, interleaved with `pywt.waverec2` runs, and their ratio;
- the reconstruction back to back (as in an optimization loop; on CPU a jitted call that follows
  a pause pays about 1 ms of thread wake-up, which the interleaved number includes);
- a decompose + reconstruct round trip, interleaved with `wavedec2` + `waverec2`;
- `jax.value_and_grad` of `sum(p() ** 2)`, against that of `sum(x ** 2)` on the raw array.
A benchmark, not a test: it needs PyWavelets.
"""

import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pywt
from ptyrax_wavelet import WaveletArrayParametrization, wavelet_decompose, wavelet_reconstruct

CASES = (("haar", 1), ("haar", 3), ("db2", 2))


def interleaved(f, g, runs):
    """Medians in ms of `f()` and `g()`, called alternately `runs` times each."""
    tf, tg = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        t1 = time.perf_counter()
        g()
        t2 = time.perf_counter()
        tf.append(t1 - t0)
        tg.append(t2 - t1)
    return 1e3 * statistics.median(tf), 1e3 * statistics.median(tg)


def back_to_back(f, runs):
    """Median in ms of `f()`, called `runs` times in a row."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def bench(x, wavelet, level, runs):
    p = WaveletArrayParametrization(x, wavelet=wavelet, level=level)
    recon = jax.jit(lambda p: p())
    coeffs = pywt.wavedec2(x, wavelet, mode="periodization", level=level)
    assert np.allclose(recon(p), pywt.waverec2(coeffs, wavelet, mode="periodization"), atol=1e-4)
    ours, theirs = interleaved(
        lambda: recon(p).block_until_ready(),
        lambda: pywt.waverec2(coeffs, wavelet, mode="periodization"),
        runs,
    )
    ours_b2b = back_to_back(lambda: recon(p).block_until_ready(), runs)

    def roundtrip(x):
        return wavelet_reconstruct(wavelet_decompose(x, wavelet, level), wavelet, level)

    roundtrip = jax.jit(roundtrip)
    xd = jnp.asarray(x)
    roundtrip(xd).block_until_ready()
    ours_rt, theirs_rt = interleaved(
        lambda: roundtrip(xd).block_until_ready(),
        lambda: pywt.waverec2(
            pywt.wavedec2(x, wavelet, mode="periodization", level=level),
            wavelet,
            mode="periodization",
        ),
        runs // 2,
    )
    step = jax.jit(jax.value_and_grad(lambda p: jnp.sum(p() ** 2)))
    raw_step = jax.jit(jax.value_and_grad(lambda x: jnp.sum(x**2)))
    jax.block_until_ready((step(p), raw_step(xd)))
    ours_vg, raw_vg = interleaved(
        lambda: jax.block_until_ready(step(p)), lambda: jax.block_until_ready(raw_step(xd)), runs
    )
    print(
        f"{wavelet} level {level}: reconstruct {ours:.3f} ms vs pywt.waverec2 {theirs:.2f} ms "
        f"(ratio {theirs / ours:.0f}); back to back {ours_b2b:.3f} ms; "
        f"decompose + reconstruct {ours_rt:.3f} ms vs pywt {theirs_rt:.2f} ms "
        f"(ratio {theirs_rt / ours_rt:.0f}); value_and_grad {ours_vg:.3f} ms vs raw array "
        f"{raw_vg:.3f} ms"
    )


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    x = np.random.default_rng(0).normal(size=(size, size)).astype(np.float32)
    print(f"{size}x{size} float32, medians of {runs} runs, {jax.devices()[0]}")
    for wavelet, level in CASES:
        bench(x, wavelet, level, runs)


if __name__ == "__main__":
    main()
