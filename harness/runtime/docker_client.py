"""One place that opens the Docker connection, so "no daemon" always reads the same."""

from __future__ import annotations

import functools

import docker
import docker.errors

from harness.errors import DockerUnavailable

__all__ = ["daemon_answers", "docker_client", "lost_daemon"]


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


def daemon_answers(timeout: float = 3) -> bool:
    """Whether a Docker daemon answers a ping now (a fresh connection, not the cached one)."""
    try:
        client = docker.from_env(timeout=int(max(1, timeout)))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure to answer is "no"
        return False


def lost_daemon(exc: BaseException) -> DockerUnavailable | None:
    """For an error raised mid-run: a clear DockerUnavailable when its cause is that the daemon
    stopped answering (the SDK's own errors then read like HTTP noise), else None."""
    seen: set[int] = set()
    e: BaseException | None = exc
    from_docker = False
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        mod = type(e).__module__ or ""
        if isinstance(e, DockerUnavailable):
            return e
        if mod.startswith(("docker", "requests", "urllib3")) or isinstance(e, (ConnectionError, OSError)):
            from_docker = True
        e = e.__cause__ or e.__context__
    if not from_docker or daemon_answers():
        return None
    first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
    return DockerUnavailable(f"the daemon stopped answering during the run: {first}")
