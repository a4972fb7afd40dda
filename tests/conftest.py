import pytest

pytest_plugins = ["tests.support.hub_fixtures", "tests.support.llm_fixtures"]


def pytest_collection_modifyitems(config, items):
    """`slow` end-to-end runs are opt-in locally (-m slow); CI selects a representative subset."""
    if config.getoption("-m"):
        return
    skip_slow = pytest.mark.skip(reason="slow end-to-end test: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
