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
"""

from ._conformance import RULES as RULES, check_parametrization as check_parametrization
