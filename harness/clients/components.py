"""Start and remove the path's own containers (HAProxy, PgBouncer) on the run's network.

Each runs the ``clients`` image (``environments/images/clients``) with its generated
configuration in the environment; the runtime labels it with the run, so the run's teardown
and the reaper remove it like any node. A component that does not answer within the settle
time is a SetupError that names it and carries its log, and it is removed at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from harness.errors import SetupError, WaitTimeout
from harness.images.build import clients_image
from harness.runtime.docker import DockerNode, DockerRuntime
from harness.secrets import redact
from harness.wait import wait_until

__all__ = ["component_log", "remove_component", "start_component"]

log = logging.getLogger(__name__)


def component_log(node: DockerNode, tail: int = 60) -> str:
    try:
        return redact(node.container.logs(tail=tail).decode(errors="replace"))
    except Exception as exc:  # noqa: BLE001 - the log is for a message; its absence is said
        return f"(no log: {exc})"


def remove_component(node: DockerNode) -> None:
    try:
        node.container.remove(force=True, v=True)
    except Exception:  # noqa: BLE001 - the run's teardown and the reaper try again
        log.warning("could not remove %s", node.name)


def start_component(runtime: DockerRuntime, name: str, config: str, *, ready: Callable[[DockerNode], object],
                    settle_s: float, what: str, networks: Sequence[str] = ()) -> DockerNode:
    """Create ``name`` (haproxy or pgbouncer) with ``config``; wait until ``ready(node)`` is truthy.

    ``networks``: more networks than the run's to join before it starts (two regions: the other
    region's, where Docker's DNS names that region's nodes)."""
    node = runtime.create_node(name, image=clients_image(),
                               env={"HARNESS_COMPONENT": name, "HARNESS_CONFIG": config}, more_networks=networks)
    def state() -> str | None:
        if not node.is_running():
            return "exited"  # a configuration it refused: fail now, not after the settle time
        return "ready" if ready(node) else None

    try:
        got = wait_until(state, timeout=settle_s, interval=0.1, what=f"{name} to {what}")
    except WaitTimeout as exc:
        text = component_log(node)
        remove_component(node)
        raise SetupError(f"client path: {name} did not {what} within {settle_s:g} s (clients.settle_s) "
                         f"({exc}); its log:\n{text or '(empty)'}") from exc
    if got == "exited":
        text = component_log(node)
        remove_component(node)
        raise SetupError(f"client path: {name} exited at start; its log:\n{text}")
    return node
