"""An in-memory runtime for fast unit tests of the engine (no Docker, no processes).

It is in addition to, not instead of, tests on the real Docker runtime: it exists so role
resolution, faults and the fault set can be tested in milliseconds. Nodes only keep a
running/paused state and record what was asked of them: ``exec`` returns a configurable
:class:`ExecResult` (exit 0 and no output unless told otherwise) and never runs anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.errors import SetupError
from harness.runtime.base import ExecResult, ReapReport

if TYPE_CHECKING:
    from harness.runtime.base import Node, Pausable, Runtime
    from harness.runtime.volumes import VolumeSizes

__all__ = ["ExecCall", "FakeNode", "FakeRuntime"]

#: Answers one command, or returns None to fall back to the node's ``exec_result``.
Responder = Callable[[tuple[str, ...]], ExecResult | None]


@dataclass(frozen=True)
class ExecCall:
    """One command a test asked a fake node to run."""

    cmd: tuple[str, ...]
    user: str
    timeout: float


class FakeNode:
    """A host that is only a state: running or not, paused or not.

    ``calls`` lists the lifecycle calls in order ("start", "stop", "kill", "pause", "resume",
    "exec"); ``execs`` keeps every command with its user and timeout.
    """

    def __init__(self, name: str, address: str, *, image: str = "fake", env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.hostname = name
        self.image = image
        self.env: dict[str, str] = dict(env or {})
        self._address = address
        self.running = True
        self.paused = False
        self.removed = False
        self.calls: list[str] = []
        self.execs: list[ExecCall] = []
        self.exec_result = ExecResult(0, "")
        self.responder: Responder | None = None
        self.log_text = ""

    def __repr__(self) -> str:
        state = "removed" if self.removed else "paused" if self.paused else "running" if self.running else "stopped"
        return f"FakeNode({self.name!r}, {state})"

    def address(self) -> str:
        return self._address

    def is_running(self) -> bool:
        # As with Docker: a paused container is not counted as running.
        return self.running and not self.paused and not self.removed

    def _alive(self, action: str) -> None:
        if self.removed:
            raise SetupError(f"cannot {action} {self.name}: the node was removed")

    def start(self) -> None:
        self._alive("start")
        self.calls.append("start")
        self.running, self.paused = True, False

    def stop(self, timeout: float = 10) -> None:
        self._alive("stop")
        self.calls.append("stop")
        self.running, self.paused = False, False

    def kill(self) -> None:
        self._alive("kill")
        self.calls.append("kill")
        self.running, self.paused = False, False

    def pause(self) -> None:
        self._alive("pause")
        self.calls.append("pause")
        self.paused = True

    def resume(self) -> None:
        self._alive("resume")
        self.calls.append("resume")
        self.paused = False

    def exec(self, cmd: Sequence[str], *, user: str = "postgres", timeout: float = 60) -> ExecResult:
        """Record the command; answer with ``responder`` if it answers, else ``exec_result``.

        On a node that is not running the command cannot run: exit -1, like a failed exec.
        """
        call = ExecCall(tuple(cmd), user, timeout)
        self.calls.append("exec")
        self.execs.append(call)
        if not self.is_running():
            return ExecResult(-1, f"{self.name} is not running")
        if self.responder is not None:
            answer = self.responder(call.cmd)
            if answer is not None:
                return answer
        return self.exec_result

    def exec_detached(self, cmd: Sequence[str], *, user: str = "postgres") -> None:
        """Recorded like ``exec``; nothing runs."""
        self.exec(cmd, user=user)

    def commands(self) -> list[str]:
        """Every command run so far, each joined into one string (for ``in`` checks)."""
        return [" ".join(c.cmd) for c in self.execs]

    def logs(self, tail: int = 200) -> str:
        return "\n".join(self.log_text.splitlines()[-tail:]) if tail > 0 else ""


class FakeRuntime:
    """Hands out :class:`FakeNode` hosts with addresses 127.0.0.2, 127.0.0.3, ..."""

    name = "fake"

    def __init__(self, run_id: str = "fake-run", scope: str = "main") -> None:
        self.run_id = run_id
        self.scope = scope
        self._nodes: dict[str, FakeNode] = {}
        self._next_host = 2
        self.teardowns = 0
        self.reaps: list[bool] = []
        #: What ``reap`` reports having removed.
        self.leftovers = ReapReport(0, 0, 0)

    def create_node(self, name: str, *, image: str, env: Mapping[str, str],
                    volumes: VolumeSizes | None = None) -> FakeNode:
        if name in self._nodes:
            raise SetupError(f"a node named {name!r} already exists in run {self.run_id}")
        if self._next_host > 254:
            raise SetupError("the fake network is full (253 nodes)")
        node = FakeNode(name, f"127.0.0.{self._next_host}", image=image, env=env)
        self._next_host += 1
        self._nodes[name] = node
        return node

    def create_nodes(self, specs: Sequence[tuple[str, str, Mapping[str, str]]], *,
                     volumes: VolumeSizes | None = None) -> list[FakeNode]:
        """``volumes`` is accepted and ignored (fake nodes have no disks)."""
        return [self.create_node(name, image=image, env=env) for name, image, env in specs]

    def nodes(self) -> list[FakeNode]:
        return list(self._nodes.values())

    def node(self, name: str) -> FakeNode:
        return self._nodes[name]

    def teardown(self) -> None:
        for node in self._nodes.values():
            node.running, node.paused, node.removed = False, False, True
        self._nodes.clear()
        self.teardowns += 1

    def reap(self, *, everything: bool = False) -> ReapReport:
        self.reaps.append(everything)
        return self.leftovers


if TYPE_CHECKING:
    # mypy checks here that the fakes really implement the protocols they stand in for.
    def _conforms(runtime: FakeRuntime, node: FakeNode) -> tuple[Runtime, Node, Pausable]:
        return runtime, node, node
