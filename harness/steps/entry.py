"""The ``pytest11`` entry point: loads the harness's step library only when a test needs it.

pytest loads every installed plugin in every run of the environment, so this module imports
nothing of the harness and does nothing by itself. The step library
(:mod:`harness.steps.plugin`, with the ``drill`` fixture and every step family) is
registered the moment collection meets a pytest-bdd scenario or a test that asks for the
``drill`` or ``harness_run`` fixture (and from the start in the controller of a pytest-xdist
run, which merges the workers' summaries); a test run with neither is untouched. A project that
wants the library from the start (fixtures of its own built on ``drill``) lists it in its
``conftest.py``: ``pytest_plugins = ["harness.steps.plugin"]``.

A project opts in to per-run output with a ``[tool.pg_chaos_harness]`` table in its
``pyproject.toml`` (``harness init`` writes one; ``harness run`` implies it): its Allure
results then go to ``<reports>/runs/<run-id>/allure-results`` unless ``--alluredir`` says
otherwise. Allure's own plugin is configured before collection, so this is decided here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

__all__ = ["LIBRARY", "load_library", "reports_root"]

LIBRARY = "harness.steps.plugin"
# Parameters that mark a test as the harness's: pytest-bdd's scenario wrapper, and our fixtures.
_TRIGGERS = frozenset({"_pytest_bdd_example", "drill", "harness_run"})


def reports_root(config: pytest.Config) -> Path:
    """The reports folder of this pytest run: ``HARNESS_REPORTS_DIR``, else the project's."""
    from harness.project import current

    return current(Path(str(config.inipath.parent)) if config.inipath else None).reports


def _opted_in(config: pytest.Config) -> bool:
    if os.environ.get("HARNESS_RUN_ID") or os.environ.get("HARNESS_REPORTS_DIR"):
        return True  # `harness run` / `harness drill`, or a caller that chose the folder
    from harness.errors import HarnessError
    from harness.project import current

    try:
        return current(Path(str(config.inipath.parent)) if config.inipath else None).config_file is not None
    except HarnessError:
        return False  # a broken table is reported when a drill reads it, not here


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _allure_folder(config)
    # Under pytest-xdist the controller collects nothing, but it merges the workers' parts of
    # the summary at the end: it needs the library from the start.
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        load_library(config)


def _allure_folder(config: pytest.Config) -> None:
    if not hasattr(config.option, "allure_report_dir") or config.option.allure_report_dir \
            or os.environ.get("HARNESS_NO_ALLURE") or config.option.collectonly or not _opted_in(config):
        return
    from harness import labels

    # The run id is fixed here so that the step library's run (loaded later) writes its
    # summary beside these Allure results.
    run_id = os.environ.get("HARNESS_RUN_ID") or labels.new_run_id()
    os.environ["HARNESS_RUN_ID"] = run_id
    config.option.allure_report_dir = str(reports_root(config) / "runs" / run_id / "allure-results")


def load_library(config: pytest.Config) -> None:
    """Register the step library once (a no-op when it is registered already)."""
    pm = config.pluginmanager
    loaded = sys.modules.get(LIBRARY)
    if loaded is None or not pm.is_registered(loaded):
        pm.import_plugin(LIBRARY)


def _argnames(obj: Any) -> set[str]:
    code = getattr(obj, "__code__", None)
    if code is None:
        return set()
    return set(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])


def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    if callable(obj) and _TRIGGERS & _argnames(obj):
        try:
            load_library(collector.config)
        except Exception as exc:
            # The module that needs the library reports it as its collection error; the rest runs.
            raise collector.CollectError(
                f"the harness step library failed to load: {type(exc).__name__}: {exc}") from exc
