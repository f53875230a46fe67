"""``harness doctor``: what a drill needs on this machine, and for each missing thing how to get it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer

from harness.errors import HarnessError

__all__ = ["Check", "register", "run_checks"]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""  # how to get it, when not ok
    required: bool = True  # False: only some drills need it


def _docker() -> Check:
    from harness.runtime.docker_client import docker_client

    fix = "apt-get install docker.io, then start the daemon (systemctl start docker, or dockerd &)"
    try:
        v = docker_client().version()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the daemon is the finding
        return Check("Docker daemon", False, f"not reachable: {exc}", fix)
    version = str(v.get("Version", "?"))
    major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
    if major < 20:
        return Check("Docker daemon", False, f"version {version} (API {v.get('ApiVersion', '?')}): too old",
                     "Docker 20.10 or newer (apt-get install docker.io)")
    return Check("Docker daemon", True, f"version {version} (API {v.get('ApiVersion', '?')})")


def _binary(name: str, what: str, package: str, required: bool = True) -> Check:
    path = shutil.which(name)
    if path:
        return Check(what, True, path, required=required)
    return Check(what, False, f"{name} not found", f"apt-get install {package}", required)


def _loop_devices() -> Check:
    fix = "run as root on a host (or a --privileged container) with loop devices: modprobe loop; apt-get install mount"
    if not Path("/dev/loop-control").exists():
        return Check("loop devices", False, "/dev/loop-control is missing (disk-fault drills need it)", fix, False)
    if shutil.which("losetup") is None:
        return Check("loop devices", False, "losetup not found", "apt-get install mount", False)
    return Check("loop devices", True, "/dev/loop-control, losetup", required=False)


def _root() -> Check:
    if os.geteuid() == 0:
        return Check("root", True, "running as root", required=False)
    return Check("root", False, f"running as uid {os.geteuid()} (network and disk faults enter namespaces "
                 "and mount filesystems)", "run the drills as root (sudo -E harness run)", False)


def _images() -> Check:
    from harness.images.build import base_tag, node_image
    from harness.runtime.docker_client import docker_client

    try:
        tags = [base_tag(), node_image()]
        client = docker_client()
        missing = []
        for tag in tags:
            try:
                client.images.get(tag)
            except Exception:  # noqa: BLE001 - not found, or no daemon: both mean "not there"
                missing.append(tag)
    except HarnessError as exc:
        return Check("node images", False, str(exc), "reinstall the package (its image build files are missing)")
    except Exception as exc:  # noqa: BLE001
        return Check("node images", False, f"cannot look: {exc}", "start Docker first, then: harness images build")
    if missing:
        return Check("node images", False, f"missing: {', '.join(missing)}",
                     "harness images build (needs debootstrap and a Debian 12 apt mirror; about 2 minutes)")
    return Check("node images", True, ", ".join(tags))


def _mirror() -> Check:
    from harness.images.build import _host_mirror

    try:
        return Check("Debian 12 mirror", True, f"{_host_mirror()} (image builds read it from apt)", required=False)
    except HarnessError as exc:
        return Check("Debian 12 mirror", False, str(exc),
                     "build the images on a Debian 12 machine (its apt sources name the mirror)", False)


def _allure() -> Check:
    from harness.report.render import INSTALL_HINT, allure_cli

    cli = allure_cli()
    if cli is not None and cli.exists():
        return Check("Allure renderer", True, str(cli), required=False)
    return Check("Allure renderer", False, "the Allure 3 CLI was not found (harness report needs it; "
                 "the Allure results are written without it)", INSTALL_HINT, False)


CHECKS: tuple[Callable[[], Check], ...] = (
    _docker,
    lambda: _binary("debootstrap", "debootstrap (builds the base image)", "debootstrap", required=False),
    lambda: _binary("nft", "nftables", "nftables", required=False),
    lambda: _binary("nsenter", "nsenter", "util-linux", required=False),
    _loop_devices,
    _root,
    _images,
    _mirror,
    _allure,
)


def run_checks() -> list[Check]:
    return [check() for check in CHECKS]


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor() -> None:
        """Check what the harness needs here (Docker, debootstrap, nftables, loop devices, images, Allure)."""
        from harness.commands.output import console

        failed = False
        for c in run_checks():
            mark = "[green]ok[/]     " if c.ok else ("[red]missing[/]" if c.required else "[yellow]warning[/]")
            console.print(f"{mark} {c.name}: {c.detail}")
            if not c.ok:
                console.print(f"         how: {c.fix}")
                failed = failed or c.required
        raise typer.Exit(1 if failed else 0)
