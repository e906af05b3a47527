"""Tests of the dev identity provider (a package, so its modules import helpers from its conftest)."""
