"""Build the node image from ``environments/images`` with no container registry.

The base is Debian bookworm bootstrapped here with ``debootstrap`` and ``docker import``;
the node image is an ordinary ``docker build`` on top of it with apt inside. Both are
tagged by a hash of their build files, so a warm build is a lookup and nothing more.
The package mirror is read from this machine's own apt configuration.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from harness import resources
from harness.errors import ImageBuildError
from harness.runtime.docker_client import docker_client

__all__ = ["IMAGES_DIR", "ImageSpec", "build_images", "node_image"]

log = logging.getLogger(__name__)

# The image build folders ship as package data: a build works from an installed package too.
IMAGES_DIR = resources.builtin_dir("images")
REPO = "pgharness"
APT_SOURCES = Path("/etc/apt/sources.list.d")


@dataclass(frozen=True)
class ImageSpec:
    name: str
    tag: str
    built: bool  # False when the tag already existed (warm)
    seconds: float


def _hash_dir(path: Path, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _recipe() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (IMAGES_DIR / "base" / "recipe.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def base_tag() -> str:
    return f"{REPO}/base:{_recipe().get('SUITE', 'bookworm')}-{_hash_dir(IMAGES_DIR / 'base')}"


def node_image() -> str:
    """The tag the node image has (or will have) for the current build files."""
    return f"{REPO}/node:{_hash_dir(IMAGES_DIR / 'node', base_tag())}"


def _host_mirror() -> str:
    """The Debian mirror this machine's apt uses (never hard-coded in the project)."""
    texts = [p.read_text() for p in sorted(APT_SOURCES.glob("*.sources"))]
    for text in texts:
        for stanza in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.MULTILINE)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.MULTILINE)
            if uris and suites and "security" not in uris.group(1) and "bookworm" in suites.group(1):
                return uris.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            m = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", line)
            if m:
                return m.group(1)
    raise ImageBuildError("cannot find a Debian bookworm mirror in this machine's apt sources")


def _image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _build_base(client: docker.DockerClient, tag: str) -> None:
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is not installed (run scripts/setup, or apt-get install debootstrap)")
    recipe = _recipe()
    mirror = _host_mirror()
    with tempfile.TemporaryDirectory(prefix="pgharness-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        cmd = [
            "debootstrap",
            f"--variant={recipe.get('VARIANT', 'minbase')}",
            f"--include={recipe.get('INCLUDE', 'ca-certificates')}",
            recipe.get("SUITE", "bookworm"),
            str(root),
            mirror,
        ]
        log.info("bootstrapping the base: %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ImageBuildError(f"debootstrap failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        # Use the same apt sources as this machine (security updates included).
        (root / "etc/apt/sources.list").unlink(missing_ok=True)
        dest = root / "etc/apt/sources.list.d"
        dest.mkdir(parents=True, exist_ok=True)
        for src in APT_SOURCES.glob("*.sources"):
            if "debian" in src.name:
                shutil.copy(src, dest / src.name)
        if not list(dest.glob("*.sources")):
            (root / "etc/apt/sources.list").write_text(f"deb {mirror} {recipe.get('SUITE', 'bookworm')} main\n")
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        tar_path = Path(tmp) / "rootfs.tar"
        with tarfile.open(tar_path, "w") as tar:
            tar.add(root, arcname=".")
        repo, _, version = tag.partition(":")
        client.api.import_image_from_file(str(tar_path), repository=repo, tag=version)
    if not _image_exists(client, tag):
        raise ImageBuildError(f"docker import did not produce {tag}")


def _build_node(client: docker.DockerClient, tag: str, base: str) -> None:
    ctx = IMAGES_DIR / "node"
    try:
        _, logs = client.images.build(
            path=str(ctx),
            tag=tag,
            buildargs={"BASE": base},
            network_mode="host",
            rm=True,
            forcerm=True,
        )
        for chunk in logs:
            if isinstance(chunk, dict) and chunk.get("stream"):
                log.debug(str(chunk["stream"]).rstrip())
    except docker.errors.BuildError as exc:
        text = "".join(str(c.get("stream", c.get("error", ""))) for c in exc.build_log if isinstance(c, dict))
        raise ImageBuildError(f"building {tag} failed: {exc.msg}\n{text[-3000:]}") from exc


def build_images(force: bool = False) -> list[ImageSpec]:
    """Build the base and node images unless their content-hash tags already exist."""
    client = docker_client()
    specs: list[ImageSpec] = []
    base = base_tag()
    t0 = time.monotonic()
    built = force or not _image_exists(client, base)
    if built:
        _build_base(client, base)
    specs.append(ImageSpec("base", base, built, time.monotonic() - t0))
    node = node_image()
    t0 = time.monotonic()
    built = force or not _image_exists(client, node)
    if built:
        _build_node(client, node, base)
    specs.append(ImageSpec("node", node, built, time.monotonic() - t0))
    # A stable alias so a person can `docker run pgharness/node:latest` by hand.
    client.images.get(node).tag(f"{REPO}/node", "latest")
    return specs


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=os.environ.get("LOGLEVEL", "INFO"))
    for s in build_images():
        print(s)
