"""A plugin whose import fails."""

import ptyrax_test_broken_missing_dependency  # noqa: F401
