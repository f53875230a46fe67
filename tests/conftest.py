"""Shared fixtures of the harness's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def node_image() -> str:
    """The node image, built (or found up to date) once per session."""
    from harness.images import build_images

    return build_images()[-1].tag


@pytest.fixture
def reports_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    d = tmp_path / "reports"
    monkeypatch.setenv("HARNESS_REPORTS_DIR", str(d))
    yield d


@pytest.fixture
def run_id() -> str:
    from harness.labels import new_run_id

    return "t" + new_run_id()


def harness_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HARNESS_RUN_ID", None)
    return env
