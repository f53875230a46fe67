"""One place that opens the Docker connection, so "no daemon" always reads the same."""

from __future__ import annotations

import functools

import docker
import docker.errors

from harness.errors import DockerUnavailable

__all__ = ["docker_client"]


@functools.lru_cache(maxsize=1)
def _client() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerUnavailable(str(exc).splitlines()[0][:200]) from exc
    except Exception as exc:  # requests' connection errors and the like
        raise DockerUnavailable(str(exc)[:200]) from exc
    return client


def docker_client() -> docker.DockerClient:
    """A connected client, or :class:`DockerUnavailable` saying how to start a daemon."""
    return _client()
