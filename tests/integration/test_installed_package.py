"""The harness as a team gets it: a wheel installed into a fresh venv outside this checkout.

Builds the wheel from a copy of the tracked sources, installs it (with its dependencies from
the package index) into a new venv, runs `harness init` in a scratch folder, runs the starter
drill there with `harness run`, with plain `pytest` and with `harness drill`, and checks that the summaries and the
Allure results are under that folder, that nothing was written into site-packages, and that an
unrelated test file in that venv still passes without the harness loading. Measured here: about
2.5 minutes, most of it pip installing the dependencies (marked slow).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _tracked(dest: Path) -> None:
    """Copy what git tracks (and what this branch adds but has not committed) to ``dest``: a
    wheel built there holds only the project's files, and the checkout gets no build/ folder."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "pyproject.toml",
                          "README.md", "harness"], cwd=REPO, capture_output=True, text=True, check=True)
    for rel in out.stdout.split():
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _files(folder: Path) -> set[str]:
    # __pycache__ is Python's and pytest's bytecode cache (pytest rewrites its plugins' asserts),
    # not output of the harness.
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if "__pycache__" not in p.parts}


def _env() -> dict[str, str]:
    # As on a team's machine: nothing of this checkout on the path, no harness settings.
    drop = ("HARNESS_", "PYTEST_", "PYTHONPATH", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def _run(cmd: list[str | Path], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True, text=True,
                         timeout=timeout, stdin=subprocess.DEVNULL)
    return out


def _check(out: subprocess.CompletedProcess[str], what: str) -> None:
    assert out.returncode == 0, f"{what} exited {out.returncode}:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"


def _one_passed_run(runs: Path, seen: set[str]) -> Path:
    new = [d for d in runs.iterdir() if d.name not in seen]
    assert len(new) == 1, f"expected one new run under {runs}, found {sorted(p.name for p in new)}"
    summary = json.loads((new[0] / "summary.json").read_text())
    assert [s["status"] for s in summary["scenarios"]] == ["passed"], summary
    assert summary["scenarios"][0]["measurements"]["rto_write_s"] is not None
    assert list((new[0] / "allure-results").glob("*-result.json")), "no Allure results beside the summary"
    seen.add(new[0].name)
    return new[0]


def test_a_wheel_installed_in_a_fresh_venv_runs_the_starter_drill_from_a_scratch_folder(
        tmp_path: Path, node_image: str) -> None:
    assert REPO not in tmp_path.parents
    src, dist, venv, scratch = (tmp_path / n for n in ("src", "dist", "venv", "ours"))
    _tracked(src)
    _check(_run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", src, "-w", dist], tmp_path), "pip wheel")
    wheel = next(dist.glob("pg_chaos_harness-*.whl"))
    _check(_run([sys.executable, "-m", "venv", venv], tmp_path), "venv")
    _check(_run([venv / "bin" / "pip", "install", "-q", wheel], tmp_path, timeout=900), "pip install")
    site = next((venv / "lib").glob("python3*/site-packages"))
    node_files = site / "harness" / "data" / "environments" / "images" / "node"
    assert (node_files / "Dockerfile").is_file()
    assert os.access(node_files / "node-init", os.X_OK), "the image's entry script lost its executable bit"
    assert not (site / "environments").exists() and not (site / "pyproject.toml").exists()
    before = _files(site)
    harness, pytest_bin = venv / "bin" / "harness", venv / "bin" / "pytest"

    # The image build files of the installed package hash to the same tag as this checkout's.
    images = _run([harness, "images", "build"], tmp_path, timeout=900)
    _check(images, "harness images build")
    assert node_image in images.stdout, images.stdout

    _check(_run([harness, "init", scratch], tmp_path), "harness init")
    assert (scratch / "features" / "first_drill.feature").is_file()
    _check(_run([harness, "env", "check", "environments/my-cluster.yaml"], scratch), "harness env check")

    runs, seen = scratch / "reports" / "runs", set()
    out = _run([harness, "run"], scratch)
    _check(out, "harness run")
    _one_passed_run(runs, seen)

    out = _run([pytest_bin, "-q"], scratch)
    _check(out, "pytest")
    _one_passed_run(runs, seen)

    out = _run([harness, "drill", "features/first_drill.feature"], scratch)
    _check(out, "harness drill")
    _one_passed_run(runs, seen)

    doctor = _run([harness, "doctor"], scratch)
    _check(doctor, "harness doctor")
    assert "ok      node images" in doctor.stdout, doctor.stdout

    # An unrelated test file in the same venv: passes, the step library never loads, nothing written.
    other = tmp_path / "unrelated"
    other.mkdir()
    (other / "test_unrelated.py").write_text(
        "import sys\n\n\ndef test_plain():\n    assert 'harness.steps.plugin' not in sys.modules\n")
    out = _run([pytest_bin, "-q", "-p", "no:cacheprovider"], other)
    _check(out, "pytest of an unrelated test file")
    assert "1 passed" in out.stdout
    assert _files(other) == {"test_unrelated.py"}

    assert _files(site) == before, f"written into site-packages: {sorted(_files(site) - before)}"
