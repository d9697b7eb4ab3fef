"""The conformance kit for the engine's kinds: readers and penalties.

`check_reader(reader, path)` and `check_penalty(penalty, x)` return when the reader or penalty
follows the rules the engine relies on, and raise an `AssertionError` that names the first
rule broken, as `ptyrax_core.testing.check_parametrization` does for parametrizations:

```python
from ptyrax_reconstruct.testing import check_penalty, check_reader

def test_my_reader_follows_the_rules(tmp_path):
    check_reader(MyReader(), write_a_small_file(tmp_path))
```
"""

import pathlib

import numpy as np

from ._cxi import Scan
from ._errors import ReconstructError
from ._penalties import Penalty
from ._readers import Reader

READER_RULES = (
    "1. read(path) returns a Scan",
    "2. frames read by range (a slice, an index array) equal the whole read's frames",
    "3. shapes agree: frames (N, rows, columns), translations (N, 3), valid (rows, columns) "
    "bool, a scan grid of N positions",
    "4. calibration in metres: finite, positive; a wavelength below 1e-5 m (or None: the "
    "config gives it)",
    "5. a file that is not there is one ReconstructError line that names it",
    "6. its arguments are not named like the engine's [data] keys (file, reader, wavelength, "
    "...), which never reach it",
)
PENALTY_RULES = (
    "1. the value is a real, finite, non-negative scalar",
    "2. jit gives the value to rounding",
    "3. its gradient is finite and of the input's shape and dtype",
    "4. it is zero at `zero` (where given)",
    "5. a pytree: flattened and rebuilt, it gives the same value",
)


def _rule(ok: bool, rules: tuple[str, ...], number: int, detail: str) -> None:
    if not ok:
        raise AssertionError(f"rule {rules[number - 1]}: {detail}")


def check_reader(reader: Reader, path: str | pathlib.Path) -> Scan:
    """Check `reader` on the file `path` (a small one: it is read whole); the scan it read.

    Raises:
        AssertionError: naming the first rule of `READER_RULES` broken.
    """
    import inspect

    from ._calibration import KEYS

    path = pathlib.Path(path)
    taken = set(inspect.signature(type(reader)).parameters) & {*KEYS, "file", "reader"}
    _rule(not taken, READER_RULES, 6, f"{', '.join(sorted(taken))}")
    scan = reader.read(path)
    _rule(isinstance(scan, Scan), READER_RULES, 1, f"got {type(scan).__name__}")
    n, rows, columns = scan.frames_shape
    whole = scan.frames()
    _rule(whole.shape == (n, rows, columns), READER_RULES, 3, f"frames are {whole.shape}")
    picks = np.array([n - 1, 0, n // 2])
    for indices, expected in ((slice(1, n), whole[1:]), (picks, whole[picks])):
        part = scan.frames(indices)
        _rule(np.array_equal(part, expected), READER_RULES, 2, f"frames at {indices}")
    if scan.translations is not None:
        _rule(
            np.shape(scan.translations) == (n, 3) and np.isfinite(scan.translations).all(),
            READER_RULES,
            3,
            f"translations {np.shape(scan.translations)}, finite: "
            f"{bool(np.isfinite(scan.translations).all())}",
        )
    valid = np.asarray(scan.valid)
    _rule(valid.shape == (rows, columns) and valid.dtype == bool, READER_RULES, 3, "valid")
    if scan.scan_shape is not None:
        grid = tuple(scan.scan_shape)
        _rule(len(grid) == 2 and grid[0] * grid[1] == n, READER_RULES, 3, f"scan_shape {grid}")
    calibration = {"wavelength": scan.wavelength, "distance": scan.distance}
    for name, value in calibration.items():
        if value is not None:
            _rule(np.isfinite(value) and value > 0, READER_RULES, 4, f"{name} {value}")
    if scan.wavelength is not None:
        _rule(scan.wavelength < 1e-5, READER_RULES, 4, f"wavelength {scan.wavelength} m")
    if scan.basis is not None:
        basis = np.asarray(scan.basis, np.float64)
        _rule(
            basis.shape == (3, 2) and np.isfinite(basis).all() and (np.abs(basis).sum(0) > 0).all(),
            READER_RULES,
            4,
            f"basis {basis.tolist()}",
        )
    missing = path.with_name(path.name + ".not-there")
    try:
        reader.read(missing)
    except ReconstructError as e:
        text = str(e)
        _rule(str(missing) in text and "\n" not in text, READER_RULES, 5, text)
    else:
        _rule(False, READER_RULES, 5, f"{missing} was read")
    return scan


def check_penalty(penalty: Penalty, x, zero=None) -> None:
    """Check `penalty` on the array `x` (and at `zero`, where it must be 0).

    Raises:
        AssertionError: naming the first rule of `PENALTY_RULES` broken.
    """
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from ptyrax_core.testing import rounding_tolerance

    x = jnp.asarray(x)
    value = penalty(x)
    _rule(jnp.shape(value) == () and not jnp.iscomplexobj(value), PENALTY_RULES, 1, f"{value!r}")
    _rule(bool(jnp.isfinite(value)) and value >= 0, PENALTY_RULES, 1, f"{float(value)}")
    jitted = eqx.filter_jit(lambda p, x: p(x))(penalty, x)
    tolerance = rounding_tolerance(value.dtype, terms=x.size, scale=max(float(value), 1.0))
    _rule(abs(float(jitted) - float(value)) <= tolerance, PENALTY_RULES, 2, f"{jitted} {value}")
    grad = jax.grad(lambda x: penalty(x))(x)
    _rule(
        grad.shape == x.shape and grad.dtype == x.dtype and bool(jnp.isfinite(grad).all()),
        PENALTY_RULES,
        3,
        f"gradient {grad.shape} {grad.dtype}",
    )
    if zero is not None:
        at_zero = float(penalty(jnp.asarray(zero)))
        _rule(abs(at_zero) <= tolerance, PENALTY_RULES, 4, f"{at_zero}")
    leaves, tree = jax.tree.flatten(penalty)
    rebuilt = jax.tree.unflatten(tree, leaves)
    _rule(float(rebuilt(x)) == float(value), PENALTY_RULES, 5, "rebuilt")
