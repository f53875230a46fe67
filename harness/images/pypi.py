"""Patroni from PyPI, installed into a stack's node image without a network in the build.

``patroni: {source: pypi, version: "4.1.x"}`` (or ``Given Patroni 4.1 from PyPI``): the host
runs ``pip wheel`` once for that specifier (PyPI through pip, the ordinary client; sdists such
as python-etcd become wheels here), keeps the wheels under ``~/.cache/pgharness/wheels``, and
``docker build`` installs them from the build context with ``pip --no-index`` into a venv that
sees the system's packages. Debian's package stays the default; the image's tag names the
exact Patroni version and hashes the wheels, so a warm build is a lookup and needs no PyPI.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from pathlib import Path

from harness.errors import ImageBuildError
from harness.images.build import IMAGES_DIR, REPO, _image_exists, build_images, docker_build, pip_wheels, wheel_cache
from harness.runtime.docker_client import docker_client

__all__ = ["patroni_pypi_image", "pip_specifier", "wheels_for"]

_SPEC = re.compile(r"^\d+(\.\d+){0,2}(\.x|\.\*)?$")


def pip_specifier(version: str) -> str:
    """"4.1.x" / "4.1.*" / "4.1" -> "==4.1.*"; "4.1.3" -> "==4.1.3"."""
    v = version.strip()
    if not _SPEC.match(v):
        raise ImageBuildError(f"Patroni version {version!r}: use a release (4.1.3) or a series (4.1.x)")
    if v.endswith((".x", ".*")):
        return f"=={v[:-2]}.*"
    return f"=={v}.*" if v.count(".") < 2 else f"=={v}"


def wheels_for(version: str) -> tuple[str, Path]:
    """The exact Patroni version and the wheel directory for ``version`` (downloaded once)."""
    spec = pip_specifier(version)
    d = pip_wheels(f"patroni[etcd3]{spec}", wheel_cache() / f"patroni{spec.replace('==', '-').replace('*', 'x')}",
                   "patroni-*.whl")
    found = sorted(d.glob("patroni-*.whl"))
    m = re.match(r"patroni-([^-]+)-", found[-1].name) if found else None
    if m is None:
        raise ImageBuildError(f"no Patroni wheel in {d}")
    return m.group(1), d


def patroni_pypi_image(stack: str, version: str, *, build: bool = True) -> str:
    """The stack's node image with Patroni ``version`` from PyPI (built when missing)."""
    node = build_images(stack=stack)[-1].tag if build else None
    if node is None:
        from harness.images.build import node_image

        node = node_image(stack)
    exact, wheels = wheels_for(version)
    ctx_files = IMAGES_DIR / "patroni-pypi"
    h = hashlib.sha256(node.encode())
    for f in sorted(list(ctx_files.iterdir()) + list(wheels.glob("*.whl"))):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    tag = f"{REPO}/node:{stack}-patroni-{exact}-{h.hexdigest()[:12]}"
    client = docker_client()
    if not build or _image_exists(client, tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="pgharness-patroni-") as tmp:
        ctx = Path(tmp)
        shutil.copytree(ctx_files, ctx, dirs_exist_ok=True)
        shutil.copytree(wheels, ctx / "wheels")
        docker_build(client, ctx, tag, {"NODE": node, "PATRONI_VERSION": exact})
    return tag
