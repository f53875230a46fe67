"""pgBackRest against the run's own S3 endpoint under its faults: how long one command takes.

    PYTHONPATH=. .venv/bin/python bench/s3_endpoint.py [COMMANDS]   # default 20 per case

One S3 endpoint (moto behind HAProxy, TLS) and one node on a private network of their own,
labelled like a drill's (removed at the end). Each case runs ``pgbackrest repo-ls`` COMMANDS
times on the node and prints how many succeeded and their median and worst seconds: healthy,
503 SlowDown to 30 % and to 100 % of requests, 100 ms on the endpoint's packets, the endpoint
down. No stanza is needed: repo-ls is one listing request (and pgBackRest's retries).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/numbers.py would shadow the standard library's numbers module (run as a script, this
# folder comes first on the path): drop it before anything imports numbers.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from harness.backup.repo import REPO_PATH, BackupRuntime, Repository, pgbackrest_config
from harness.backup.s3 import (
    CA_NAME,
    EndpointDown,
    EndpointErrors,
    EndpointSlow,
    S3Endpoint,
    local_repo_lines,
    make_tls,
)
from harness.images.build import node_image
from harness.runtime.docker import DockerNode


class _Only:
    """The one-node "topology" the latency fault needs (its runtime)."""

    def __init__(self, runtime: BackupRuntime) -> None:
        self.runtime = runtime


def _case(node: DockerNode, name: str, n: int) -> None:
    took, ok = [], 0
    for _ in range(n):
        t0 = time.monotonic()
        res = node.exec(["pgbackrest", "--stanza=main", "repo-ls"], timeout=120)
        took.append(time.monotonic() - t0)
        ok += res.exit_code == 0
    print(f"{name:28} {ok:3}/{n} succeeded   median {statistics.median(took):6.2f} s   worst {max(took):6.2f} s")


def main(n: int) -> None:
    run = f"bench-s3-{int(time.time())}"
    repo = Repository.create(run, "b")
    tls = make_tls()
    (repo.host_path / CA_NAME).write_text(tls.ca_pem)
    _, lines = local_repo_lines(f"{REPO_PATH}/{CA_NAME}")
    rt = BackupRuntime(run, "b", repo, pgbackrest_config(repo_lines=lines))
    try:
        ep = S3Endpoint(rt, tls)
        ep.start()
        node = rt.create_node("node1", image=node_image(), env={"HARNESS_NODE": "node1"},
                              command=["sleep", "infinity"])
        faults: list[tuple[str, Callable[[], object] | None]] = [
            ("healthy", None),
            ("503 to 30 % of requests", lambda: EndpointErrors(ep, 30)),
            ("503 to 100 % of requests", lambda: EndpointErrors(ep, 100)),
            ("100 ms on its packets", lambda: EndpointSlow(_Only(rt), ep, 0.1)),  # type: ignore[arg-type]
            ("endpoint down (reset)", lambda: EndpointDown(ep)),
        ]
        for name, make in faults:
            fault = make() if make else None
            if fault is not None:
                fault.inject()  # type: ignore[attr-defined]
            try:
                _case(node, name, n if name != "endpoint down (reset)" else min(n, 3))
            finally:
                if fault is not None:
                    fault.heal()  # type: ignore[attr-defined]
    finally:
        rt.teardown()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
