"""The harness's exceptions.

One root, two branches that must never be confused: the harness broke, or the system
under test missed its target::

    HarnessError                  anything the harness raises on purpose
    ├── SetupError                the harness could not do its job
    │   ├── DockerUnavailable     no reachable Docker daemon
    │   ├── ImageBuildError       building a node image failed
    │   ├── EnvironmentFileError  a malformed or invalid environment file (names file, line, field)
    │   ├── UnknownTarget         a role or node that does not exist in the live topology
    │   ├── ForeignResource       asked to act on something the harness did not create
    │   ├── CommandFailed         a command on a node failed (carries its output)
    │   └── WaitTimeout           a condition did not hold in time (carries the last state)
    └── TargetMissed              the system under test missed a target (carries measured and target)
"""

from __future__ import annotations

__all__ = [
    "CommandFailed",
    "DockerUnavailable",
    "EnvironmentFileError",
    "ForeignResource",
    "HarnessError",
    "ImageBuildError",
    "SetupError",
    "TargetMissed",
    "UnknownTarget",
    "WaitTimeout",
]


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""


class SetupError(HarnessError):
    """The harness itself could not do what it was asked (not a verdict on the system)."""


class DockerUnavailable(SetupError):
    def __init__(self, detail: str) -> None:
        super().__init__(
            "no reachable Docker daemon "
            f"({detail}). Start one with `scripts/setup` (installs docker.io and starts dockerd), "
            "or by hand: `dockerd >/var/log/dockerd.log 2>&1 &`"
        )


class ImageBuildError(SetupError):
    pass


class EnvironmentFileError(SetupError):
    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"invalid environment file {path}:\n  " + "\n  ".join(problems))


class UnknownTarget(SetupError):
    pass


class ForeignResource(SetupError):
    pass


class CommandFailed(SetupError):
    def __init__(self, node: str, command: str, exit_code: int, output: str) -> None:
        self.node, self.command, self.exit_code, self.output = node, command, exit_code, output
        tail = output.strip()[-2000:]
        super().__init__(f"on {node}: `{command}` exited {exit_code}:\n{tail}")


class WaitTimeout(SetupError):
    pass


class TargetMissed(HarnessError, AssertionError):
    """The system under test missed a target; the message carries the number and the target."""

    def __init__(self, what: str, measured: str, target: str) -> None:
        self.what, self.measured, self.target = what, measured, target
        super().__init__(f"{what}: measured {measured}, target {target}")
