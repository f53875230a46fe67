"""Node images built without a registry (debootstrap + docker import, then docker build)."""

from harness.images.build import ImageSpec, build_images, node_image

__all__ = ["ImageSpec", "build_images", "node_image"]
