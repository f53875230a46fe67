"""Render allure-pytest-bdd results into one static HTML file with the repo's Allure 3 CLI.

The CLI is the npm package ``allure`` (Allure 3, no Java) that ``scripts/setup`` installs
into ``node_modules`` (see :func:`allure_cli` for where else it is looked for). The "awesome" report plugin runs in single-file mode, so the
``index.html`` it writes has all its data inlined and opens straight from disk (``file://``);
the multi-file layout fetches JSON and stays blank without an HTTP server. Allure 3 keeps
history as a JSON-lines file (config ``historyPath``), appended on every generation.

Allure 3.18 hard-codes a Google Analytics tag into the page; it is stripped, so opening the
report contacts nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.errors import SetupError

__all__ = ["ALLURE_CLI", "ALLURE_VERSION", "allure_cli", "render_allure"]

ALLURE_VERSION = "3.18.0"  # the npm package `allure` that scripts/setup installs (package.json)
TIMEOUT_S = 300.0


def allure_cli() -> Path | None:
    """The Allure 3 CLI: ``HARNESS_ALLURE_CLI``, the project's ``node_modules``, the harness
    checkout's (``scripts/setup``), or ``allure`` on the PATH; None when there is none."""
    from harness import project, resources

    env = os.environ.get("HARNESS_ALLURE_CLI")
    if env:
        return Path(env)
    folders = [project.current().root]
    checkout = resources.checkout()
    if checkout is not None:
        folders.append(checkout)
    for folder in folders:
        cli = folder / "node_modules" / ".bin" / "allure"
        if cli.exists():
            return cli
    found = shutil.which("allure")
    return Path(found) if found else None


def _allure_cli_at_import() -> Path:
    try:
        return allure_cli() or Path("node_modules/.bin/allure")
    except Exception:  # noqa: BLE001 - a broken project file is reported where it is read, not at import
        return Path("node_modules/.bin/allure")


# Where the CLI was found when this module was imported (``allure_cli()`` looks again each time).
ALLURE_CLI = _allure_cli_at_import()

INSTALL_HINT = (f"npm install --no-save allure@{ALLURE_VERSION} in the project folder (needs Node.js and npm), "
                "or set HARNESS_ALLURE_CLI")

_ANALYTICS = re.compile(
    r"<script async src=\"https://www\.googletagmanager\.com/[^\"]*\"></script>\s*"
    r"<script>(?:(?!</script>).)*?gtag\((?:(?!</script>).)*</script>\s*",
    re.DOTALL,
)


def render_allure(
    results_dir: Path,
    out_dir: Path,
    *,
    history_file: Path | None = None,
    name: str = "PostgreSQL resilience report",
    beside: Path | None = None,
) -> Path:
    """Generate the report from ``results_dir`` into ``out_dir``; return ``out_dir/index.html``.

    With ``history_file`` (a ``.jsonl`` file, created when missing) the run is appended to
    it and the report shows the trend over earlier runs. With ``beside`` (the run's
    ``summary.html``) that page is copied next to ``index.html`` and linked from a bar at the
    top of the report's first page: the run's table, scorecard and failover phases. Raises
    :class:`~harness.errors.SetupError` when the CLI is not installed or fails.
    """
    cli = allure_cli()
    if cli is None or not cli.exists():
        raise SetupError(f"the Allure 3 CLI is not installed: {INSTALL_HINT}")
    results_dir, out_dir = results_dir.resolve(), out_dir.resolve()
    if not results_dir.is_dir():
        raise SetupError(f"no Allure results directory at {results_dir}")
    config: dict[str, object] = {
        "name": name,
        "plugins": {"awesome": {"options": {"singleFile": True, "reportName": name}}},
    }
    if history_file is not None:
        history_file = history_file.resolve()
        history_file.parent.mkdir(parents=True, exist_ok=True)
        config["historyPath"] = str(history_file)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.html"
    index.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="pgharness-allure-") as tmp:
        # Run in an empty directory so no stray allurerc.* is picked up and nothing is left behind.
        rc = Path(tmp) / "allurerc.json"
        rc.write_text(json.dumps(config))
        cmd = [
            str(cli),
            "generate",
            "--config",
            str(rc),
            "--output",
            str(out_dir),
            str(results_dir),
        ]
        env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
        try:
            proc = subprocess.run(
                cmd,
                check=False,
                cwd=tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise SetupError(
                f"`allure generate` did not finish in {TIMEOUT_S:.0f} s"
            ) from exc
        except OSError as exc:
            raise SetupError(
                f"could not run {cli}: {exc} ({INSTALL_HINT})"
            ) from exc
    if proc.returncode != 0 or not index.is_file():
        tail = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise SetupError(
            f"`{' '.join(cmd)}` exited {proc.returncode} without writing {index}:\n{tail}"
        )
    html = index.read_text(encoding="utf-8")
    stripped = _ANALYTICS.sub("", html, count=1)
    if beside is not None and beside.is_file():
        shutil.copyfile(beside, out_dir / beside.name)
        stripped = _link_bar(stripped, beside.name)
    if stripped != html:
        index.write_text(stripped, encoding="utf-8")
    return index


def _link_bar(html: str, href: str) -> str:
    """A bar above the report linking the run's summary page (Allure 3 has no slot for a link)."""
    bar = (f'<div id="pgharness-summary" style="font:14px sans-serif;padding:6px 12px;background:#fff3cd;'
           f'border-bottom:1px solid #e0c97a">Start here: <a href="{href}">the run\'s summary</a> '
           "(each scenario's numbers against its targets, the maturity scorecard, the failover phases)</div>")
    head, sep, rest = html.partition("<body")
    if not sep:
        return bar + html
    tag_end = rest.index(">") + 1
    return head + sep + rest[:tag_end] + bar + rest[tag_end:]
