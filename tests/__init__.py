"""The test suite (a package, so its modules import helpers from tests.conftest)."""
