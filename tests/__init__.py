"""The test suite. A regular package: iterative-stratification installs a top-level `tests` package
of its own, which would otherwise shadow this folder in `from tests.conftest import ...`."""
