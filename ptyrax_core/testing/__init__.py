"""The conformance kit: checks that a parametrization follows the rules every model relies on.

`check_parametrization(instance)` returns when the instance follows them and raises an
`AssertionError` that explains the first rule broken. The pytest plugin that ptyrax-core
installs (entry point group `pytest11`) adds the fixture `ptyrax_example`, parametrized over
the instances the loaded plugins return from their `ptyrax_examples` hook:

```python
from ptyrax_core.testing import check_parametrization

def test_conformance(ptyrax_example):
    check_parametrization(ptyrax_example)
```

`rounding_tolerance(dtype, terms=, scale=)` and `assert_close(actual, expected, terms=)` give
numerical tests tolerances that follow from the dtype's rounding, so their verdict does not
depend on the machine's floating-point kernels.
"""

from ._conformance import RULES as RULES, check_parametrization as check_parametrization
from ._tolerance import assert_close as assert_close, rounding_tolerance as rounding_tolerance
