"""Locust ships a pytest plugin that imports locust, and locust monkey-patches the standard
library with gevent at import. The harness's probes are threads with asyncio loops: they must
never run on greenlets. The plugin is disabled in pyproject (`-p no:locust`); this keeps it so."""

import sys


def test_pytest_process_is_not_monkey_patched_by_gevent() -> None:
    if "gevent.monkey" not in sys.modules:
        return  # gevent was never imported: nothing patched
    from gevent import monkey

    assert not monkey.is_module_patched("threading")
    assert not monkey.is_module_patched("socket")
