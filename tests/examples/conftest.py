"""The examples run against a real cluster: the integration suite's fixture."""

from tests.integration.conftest import cluster  # noqa: F401 (a fixture)
