"""The fixtures every part of the suite uses, from tests/support/fixtures.py."""

pytest_plugins = ["tests.support.fixtures"]
