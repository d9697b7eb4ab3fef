"""c. Wavelet reconstruction of a 1024x1024 image: `WaveletArrayParametrization` called under
`jax.jit` (the inverse transform of its coefficients), against jaxwt's `waverec2` under
`jax.jit` and PyWavelets' `waverec2`, each on its own coefficients of the same image.

ptyrax-wavelet and PyWavelets use `mode="periodization"`; jaxwt has no such mode and uses its
default, "symmetric" (its coefficient arrays are larger by a few pixels for db2, the same
size for haar). Each comparison is paired; the result is how many times faster ptyrax is
(the median of the pairs' time ratios, reference / ptyrax).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pywt
from ptyrax_wavelet import WaveletArrayParametrization

from ._report import Row
from ._timing import format_speedup, interleaved, ms, pairs_of, speedup

TITLE = "c. wavelet reconstruction"
CASES = (("haar", 1), ("haar", 3), ("db2", 2))
SIZE = {"full": 1024, "smoke": 32}
PAIRS = {"full": 40, "smoke": 2}
CALLS = 5  # timed calls a side per pair, after an untimed one
TARGET = 10.0


def _jaxwt():
    """The jaxwt module, or the error that importing or running it raised."""
    try:
        import jaxwt

        c = jaxwt.wavedec2(jnp.ones((1, 16, 16)), pywt.Wavelet("haar"), level=1)
        jaxwt.waverec2(c, pywt.Wavelet("haar")).block_until_ready()
        return jaxwt, None
    except Exception as e:
        return None, f"{type(e).__name__}: {e}".splitlines()[0][:200]


def run(mode: str) -> list[Row]:
    judged = mode == "full"
    size = SIZE[mode]
    pairs = PAIRS[mode]
    image = np.random.default_rng(0).normal(size=(size, size)).astype(np.float32)
    jaxwt, jaxwt_error = _jaxwt()
    rows = []
    for wavelet, level in CASES:
        case = f"{size}x{size} float32, {wavelet}, level {level}"
        param = WaveletArrayParametrization(image, wavelet=wavelet, level=level)
        ours = jax.jit(lambda p: p())
        np.testing.assert_allclose(ours(param), image, atol=1e-4)

        def versus(reference, name, target, note, ours=ours, param=param, case=case):
            paired = interleaved(
                lambda: ours(param).block_until_ready(), reference, pairs, calls=CALLS, warm=True
            )
            rows.append(
                Row(
                    TITLE,
                    f"{case}: against {name}",
                    ms(paired.a_median),
                    ms(paired.b_median),
                    format_speedup(paired) + " faster",
                    f">= {target:.0f}x faster" if target else "",
                    speedup(paired) >= target if judged and target else None,
                    f"{pairs_of(pairs, CALLS)}; {note}",
                )
            )

        if jaxwt is not None:
            jw = pywt.Wavelet(wavelet)
            coefficients = jaxwt.wavedec2(jnp.asarray(image)[None], jw, level=level)
            theirs = jax.jit(lambda c, jw=jw: jaxwt.waverec2(c, jw))
            np.testing.assert_allclose(theirs(coefficients)[0, :size, :size], image, atol=1e-4)
            versus(
                lambda theirs=theirs, c=coefficients: theirs(c).block_until_ready(),
                "jaxwt (jit)",
                TARGET,
                "jaxwt in its default symmetric mode",
            )
        else:
            rows.append(
                Row(
                    TITLE,
                    case + ": against jaxwt (jit)",
                    "",
                    "",
                    "jaxwt could not run",
                    f">= {TARGET:.0f}x faster",
                    None,
                    f"jaxwt with jax {jax.__version__}: {jaxwt_error}",
                )
            )

        coefficients = pywt.wavedec2(image, wavelet, mode="periodization", level=level)
        np.testing.assert_allclose(
            pywt.waverec2(coefficients, wavelet, mode="periodization"), image, atol=1e-4
        )
        versus(
            lambda c=coefficients, w=wavelet: pywt.waverec2(c, w, mode="periodization"),
            "PyWavelets",
            None,
            "periodization, on the host",
        )
    return rows
