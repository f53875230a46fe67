"""Which node image an environment runs on: its own, or its stack's, with Patroni from PyPI
when its ``patroni`` section says so (built first when missing: a warm build is a lookup)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.images.build import build_images, node_image, stack_of
from harness.images.pypi import patroni_pypi_image

if TYPE_CHECKING:
    from harness.environment import Environment

__all__ = ["image_for"]


def image_for(env: Environment, *, build: bool = True) -> str:
    """The node image of an environment (``build=False``: only its tag)."""
    if env.image != "default":
        return env.image
    stack = stack_of(env)
    if env.patroni is not None and env.patroni.source == "pypi":
        return patroni_pypi_image(stack, env.patroni.version or "", build=build)
    if build:
        return build_images(stack=stack)[-1].tag
    return node_image(stack)
