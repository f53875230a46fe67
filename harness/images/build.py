"""Build the node image of a named stack, and the monitoring and client-path images, from ``environments/images`` with no container registry.

A stack is a Debian release and the packages taken from it (``environments/images/stacks/
<name>.env``: ``bookworm`` is Debian 12 with PostgreSQL 15 and Patroni 3.0.2, ``trixie`` is
Debian 13 with PostgreSQL 17 and Patroni 4.0). Its base is bootstrapped here with
``debootstrap`` and ``docker import`` from this machine's own Debian mirror; the node image is
an ordinary ``docker build`` on top of it with apt inside, reading the same mirror. Patroni
may come from PyPI instead of Debian (:mod:`harness.images.pypi`): one more layer on the node
image, the wheels downloaded on the host first. Every image is tagged by a hash of its build
files and its stack, so a warm build is a lookup and nothing more.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import docker.errors

from harness import resources
from harness.errors import ImageBuildError
from harness.runtime.docker_client import docker_client

if TYPE_CHECKING:
    from harness.environment import Environment

__all__ = [
    "DEFAULT_STACK",
    "IMAGES_DIR",
    "ImageSpec",
    "Stack",
    "build_images",
    "clients_image",
    "known_stacks",
    "load_stack",
    "monitor_image",
    "node_image",
    "s3_image",
    "stack_of",
]

log = logging.getLogger(__name__)

# The image build folders ship as package data: a build works from an installed package too.
IMAGES_DIR = resources.builtin_dir("images")
STACKS_DIR = IMAGES_DIR / "stacks"
DEFAULT_STACK = "bookworm"
REPO = "pgharness"
APT_SOURCES = Path("/etc/apt/sources.list.d")
HOST_SUITE = "bookworm"  # the release whose mirror this machine's apt configuration names


@dataclass(frozen=True)
class ImageSpec:
    name: str
    tag: str
    built: bool  # False when the tag already existed (warm)
    seconds: float


@dataclass(frozen=True)
class Stack:
    """One stack's recipe, read from ``environments/images/stacks/<name>.env``."""

    name: str
    suite: str
    variant: str
    include: str
    pg_major: int
    packages: str
    text: str  # the file itself: its hash is part of every tag of the stack


def known_stacks() -> list[str]:
    return sorted(p.stem for p in STACKS_DIR.glob("*.env"))


def load_stack(name: str = DEFAULT_STACK) -> Stack:
    path = STACKS_DIR / f"{name}.env"
    if not path.is_file():
        raise ImageBuildError(f"no stack {name!r} (known: {', '.join(known_stacks())}; each is a file in {STACKS_DIR})")
    text = path.read_text()
    kv: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ImageBuildError(f"{path}:{n}: expected KEY=value, got {line!r}")
        k, v = line.split("=", 1)
        kv[k.strip()] = v.strip()
    missing = [k for k in ("SUITE", "PG_MAJOR", "PACKAGES") if not kv.get(k)]
    if missing:
        raise ImageBuildError(f"{path}: missing {', '.join(missing)}")
    if not kv["PG_MAJOR"].isdigit():
        raise ImageBuildError(f"{path}: PG_MAJOR must be a number, got {kv['PG_MAJOR']!r}")
    return Stack(name=name, suite=kv["SUITE"], variant=kv.get("VARIANT", "minbase"),
                 include=kv.get("INCLUDE", "ca-certificates"), pg_major=int(kv["PG_MAJOR"]),
                 packages=kv["PACKAGES"], text=text)


def _hash_dir(path: Path, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _hash_text(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def base_tag(stack: str = DEFAULT_STACK) -> str:
    s = load_stack(stack)
    return f"{REPO}/base:{s.suite}-{_hash_text(s.suite, s.variant, s.include)}"


def node_image(stack: str = DEFAULT_STACK) -> str:
    """The tag the stack's node image has (or will have) for the current build files."""
    s = load_stack(stack)
    return f"{REPO}/node:{stack}-{_hash_dir(IMAGES_DIR / 'node', base_tag(stack) + s.text)}"


def monitor_image() -> str:
    """The tag of the monitoring image (Prometheus, Alertmanager, postgres_exporter), on the
    default stack's base whatever stack the nodes run: it watches them over the network."""
    return f"{REPO}/monitor:{_hash_dir(IMAGES_DIR / 'monitor', base_tag(DEFAULT_STACK))}"


def clients_image() -> str:
    """The tag of the client-path image (HAProxy, PgBouncer), on the default stack's base."""
    return f"{REPO}/clients:{_hash_dir(IMAGES_DIR / 'clients', base_tag(DEFAULT_STACK))}"


# -- the S3 endpoint's image: moto's server mode from PyPI behind HAProxy (harness/backup/s3.py) --

MOTO_REQUIREMENT = "moto[server]==5.2.5"  # pinned: the image's tag names it, a warm build needs no PyPI


def s3_image() -> str:
    """The tag of the S3 endpoint's image, on the client-path image (its HAProxy terminates TLS)."""
    return f"{REPO}/s3:{_hash_dir(IMAGES_DIR / 's3', clients_image() + MOTO_REQUIREMENT)}"


def wheel_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pgharness" / "wheels"


def pip_wheels(requirement: str, d: Path, marker: str) -> Path:
    """The wheels of ``requirement`` (and its dependencies) in ``d``, downloaded once by pip, the
    ordinary client, unless a file matching ``marker`` is there already."""
    if not list(d.glob(marker)):
        tmp = Path(tempfile.mkdtemp(prefix="pgharness-wheels-"))
        cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "-w", str(tmp), requirement]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ImageBuildError(f"pip wheel {requirement} failed ({proc.returncode}): "
                                  f"{(proc.stderr or proc.stdout).strip()[-1500:]}")
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(d, ignore_errors=True)
        tmp.rename(d)
    return d


def _s3_wheels() -> Path:
    """The wheels of ``MOTO_REQUIREMENT`` for the image's Python (Debian 12's 3.11, as the host's)."""
    name = MOTO_REQUIREMENT.replace("[", "-").replace("]", "").replace("==", "-")
    return pip_wheels(MOTO_REQUIREMENT, wheel_cache() / name, "moto-*.whl")


def _build_s3(client: docker.DockerClient, tag: str) -> None:
    with tempfile.TemporaryDirectory(prefix="pgharness-s3-") as tmp:
        ctx = Path(tmp)
        shutil.copytree(IMAGES_DIR / "s3", ctx, dirs_exist_ok=True)
        shutil.copytree(_s3_wheels(), ctx / "wheels")
        docker_build(client, ctx, tag, {"CLIENTS": clients_image(), "MOTO_REQUIREMENT": MOTO_REQUIREMENT})


def stack_of(env: Environment | None = None) -> str:
    """The stack a drill runs on: the environment's (file or step), else ``$HARNESS_STACK``, else bookworm."""
    if env is not None and env.stack:
        return env.stack
    return os.environ.get("HARNESS_STACK") or DEFAULT_STACK


def _host_sources() -> list[tuple[str, str]]:
    """This machine's Debian apt sources (file name, text): the mirror is never hard-coded."""
    return [(p.name, p.read_text()) for p in sorted(APT_SOURCES.glob("*.sources")) if "debian" in p.name]


def _host_mirror() -> str:
    """The Debian mirror this machine's apt uses (never hard-coded in the project)."""
    for _, text in _host_sources():
        for stanza in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.MULTILINE)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.MULTILINE)
            if uris and suites and "security" not in uris.group(1) and HOST_SUITE in suites.group(1):
                return uris.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            m = re.match(rf"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{HOST_SUITE}\s", line)
            if m:
                return m.group(1)
    raise ImageBuildError(f"cannot find a Debian {HOST_SUITE} mirror in this machine's apt sources")


def stack_sources(text: str, suite: str) -> str:
    """The host's deb822 sources for another release of the same mirror (suite names swapped)."""
    return re.sub(rf"\b{HOST_SUITE}(?=(-updates|-security|-backports)?\b)", suite, text)


def _image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _build_base(client: docker.DockerClient, tag: str, stack: Stack) -> None:
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is not installed (run scripts/setup, or apt-get install debootstrap)")
    mirror = _host_mirror()
    with tempfile.TemporaryDirectory(prefix="pgharness-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        cmd = ["debootstrap", f"--variant={stack.variant}", f"--include={stack.include}", stack.suite, str(root), mirror]
        log.info("bootstrapping the %s base: %s", stack.name, " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ImageBuildError(f"debootstrap failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        # The same apt sources as this machine (security updates included), for the stack's release.
        (root / "etc/apt/sources.list").unlink(missing_ok=True)
        dest = root / "etc/apt/sources.list.d"
        dest.mkdir(parents=True, exist_ok=True)
        for name, text in _host_sources():
            (dest / name).write_text(stack_sources(text, stack.suite))
        if not list(dest.glob("*.sources")):
            (root / "etc/apt/sources.list").write_text(f"deb {mirror} {stack.suite} main\n")
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        tar_path = Path(tmp) / "rootfs.tar"
        with tarfile.open(tar_path, "w") as tar:
            tar.add(root, arcname=".")
        repo, _, version = tag.partition(":")
        client.api.import_image_from_file(str(tar_path), repository=repo, tag=version)
    if not _image_exists(client, tag):
        raise ImageBuildError(f"docker import did not produce {tag}")


def docker_build(client: docker.DockerClient, ctx: Path, tag: str, buildargs: dict[str, str]) -> None:
    try:
        _, logs = client.images.build(path=str(ctx), tag=tag, buildargs=buildargs, network_mode="host",
                                      rm=True, forcerm=True)
        for chunk in logs:
            if isinstance(chunk, dict) and chunk.get("stream"):
                log.debug(str(chunk["stream"]).rstrip())
    except docker.errors.BuildError as exc:
        text = "".join(str(c.get("stream", c.get("error", ""))) for c in exc.build_log if isinstance(c, dict))
        raise ImageBuildError(f"building {tag} failed: {exc.msg}\n{text[-3000:]}") from exc


def build_images(force: bool = False, stack: str = DEFAULT_STACK) -> list[ImageSpec]:
    """Build a stack's base and node images unless their content-hash tags already exist."""
    s = load_stack(stack)
    client = docker_client()
    specs: list[ImageSpec] = []
    base = base_tag(stack)
    t0 = time.monotonic()
    built = force or not _image_exists(client, base)
    if built:
        _build_base(client, base, s)
    specs.append(ImageSpec("base", base, built, time.monotonic() - t0))
    if stack == DEFAULT_STACK:
        # The monitoring image (real alerting) and the client path's (HAProxy, PgBouncer), built
        # before the node image: callers take the node image's spec as the last one.
        for name, tag in (("monitor", monitor_image()), ("clients", clients_image())):
            t0 = time.monotonic()
            built = force or not _image_exists(client, tag)
            if built:
                docker_build(client, IMAGES_DIR / name, tag, {"BASE": base})
            specs.append(ImageSpec(name, tag, built, time.monotonic() - t0))
        # The S3 endpoint (on the clients image): moto from PyPI behind HAProxy.
        t0 = time.monotonic()
        built = force or not _image_exists(client, s3_image())
        if built:
            _build_s3(client, s3_image())
        specs.append(ImageSpec("s3", s3_image(), built, time.monotonic() - t0))
    node = node_image(stack)
    t0 = time.monotonic()
    built = force or not _image_exists(client, node)
    if built:
        docker_build(client, IMAGES_DIR / "node", node, {"BASE": base, "PG_MAJOR": str(s.pg_major),
                                                           "PACKAGES": s.packages})
    specs.append(ImageSpec("node", node, built, time.monotonic() - t0))
    # Stable aliases so a person can `docker run pgharness/node:trixie` by hand.
    img = client.images.get(node)
    img.tag(f"{REPO}/node", stack)
    if stack == DEFAULT_STACK:
        img.tag(f"{REPO}/node", "latest")
    return specs


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=os.environ.get("LOGLEVEL", "INFO"))
    for spec in build_images(stack=os.environ.get("HARNESS_STACK", DEFAULT_STACK)):
        print(spec)
