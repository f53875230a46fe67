"""A topology left running for manual experiments: `harness up`, `status`, `inject`, `heal`, `down`.

The state (which run, who is primary, what is down or frozen) lives in a small JSON file so
each command, a new process, can pick the topology up where the last one left it; every
action goes into the session's journal like a drill's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from harness import labels
from harness.environment import Environment, load_environment
from harness.errors import SetupError
from harness.faults.process import KillNode, KillPostmaster, StopPostgres
from harness.history import ActionEvent, FaultEvent, History, now
from harness.recovery import failover_to_most_advanced, rejoin_as_replica
from harness.runtime.docker import DockerRuntime, remove_run
from harness.runtime.preflight import check_host_disk
from harness.topology.streaming import StreamingCluster

__all__ = ["Session", "SessionState", "state_file"]

FAULTS = ("kill", "kill-postmaster", "stop", "pause")


def state_file() -> Path:
    from harness.project import reports_dir

    return reports_dir() / "up" / "state.json"


@dataclass
class SessionState:
    run_id: str
    environment: str
    replicas: int
    replication: str
    primary: str
    old_primary: str | None = None
    down: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)

    def save(self) -> None:
        path = state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @staticmethod
    def load() -> SessionState:
        path = state_file()
        if not path.exists():
            raise SetupError(f"no topology is up (no {path}): start one with `harness up`")
        return SessionState(**json.loads(path.read_text()))


def _topology(runtime: DockerRuntime, env: Environment, history: History) -> StreamingCluster:
    """The environment's topology: streaming, or Patroni + etcd with a ``patroni:`` section (issue 4)."""
    if env.patroni is None:
        return StreamingCluster(runtime, env, history)
    from harness.topology.patroni import PatroniCluster, PatroniSettings

    settings = PatroniSettings(**env.patroni.model_dump())
    # PatroniCluster offers the part of StreamingCluster's interface the session uses.
    return cast(StreamingCluster, PatroniCluster(runtime, env, history, settings))


class Session:
    SCOPE = "up"

    def __init__(self, state: SessionState, cluster: StreamingCluster, history: History) -> None:
        self.state, self.cluster, self.history = state, cluster, history

    @property
    def directory(self) -> Path:
        return state_file().parent / self.state.run_id

    @classmethod
    def up(cls, environment: str, replicas: int | None, replication: str | None) -> Session:
        if state_file().exists():
            raise SetupError(f"a topology is already up ({SessionState.load().run_id}): `harness down` first")
        env: Environment = load_environment(environment)
        changes: dict[str, object] = {}
        if replicas is not None:
            changes["replicas"] = replicas
        if replication is not None:
            changes["replication"] = replication
        if changes:
            env = env.with_topology(**changes)
        run_id = "up-" + labels.new_run_id()
        labels.keep(run_id, "harness up")  # before anything exists: the reaper must never take it
        directory = state_file().parent / run_id
        directory.mkdir(parents=True, exist_ok=True)
        check_host_disk([Path("/var/lib/docker"), directory])
        history = History(journal=directory / "journal.jsonl")
        runtime = DockerRuntime(run_id, cls.SCOPE)
        cluster = _topology(runtime, env, history)
        try:
            cluster.start()
        except BaseException:
            remove_run(runtime.client, run_id)
            labels.unkeep(run_id)
            raise
        state = SessionState(run_id, env.source or environment, env.topology.replicas, env.topology.replication,
                             cluster.primary)
        state.save()
        return cls(state, cluster, history)

    @classmethod
    def open(cls) -> Session:
        state = SessionState.load()
        env = load_environment(state.environment).with_topology(replicas=state.replicas,
                                                                 replication=state.replication)
        directory = state_file().parent / state.run_id
        directory.mkdir(parents=True, exist_ok=True)
        history = History(journal=directory / "journal.jsonl")
        cluster = _topology(DockerRuntime.attach(state.run_id, cls.SCOPE), env, history)
        if env.patroni is not None:  # issue 4: Patroni names the primary itself
            cast(Any, cluster).attach(state.old_primary, state.down)
        else:
            cluster.attach(state.primary, state.old_primary, state.down)
        return cls(state, cluster, history)

    def _save(self) -> None:
        self.state.primary = self.cluster.primary
        self.state.old_primary = self.cluster.old_primary
        self.state.down = sorted(self.cluster.down)
        self.state.save()

    def inject(self, fault: str, role: str) -> str:
        target = self.cluster.resolve(role)
        began = now()
        if fault == "kill":
            detail = KillNode(self.cluster, target).inject()
        elif fault == "kill-postmaster":
            detail = KillPostmaster(self.cluster, target).inject()
        elif fault == "stop":
            detail = StopPostgres(self.cluster, target).inject()
        elif fault == "pause":
            self.cluster.node(target).pause()
            detail = f"docker pause {target}"
            self.state.paused = sorted(set(self.state.paused) | {target})
        else:
            raise SetupError(f"unknown fault {fault!r}: one of {', '.join(FAULTS)}")
        if fault != "pause":
            if target == self.cluster.primary:
                self.cluster.old_primary = target
            self.cluster.down.add(target)
        self.history.add(FaultEvent(at=now(), began=began, fault=fault, target=target, phase="inject",
                                    detail=detail))
        self._save()
        return detail

    def failover(self) -> str:
        if self.cluster.kind == "patroni":
            raise SetupError("Patroni fails over by itself: `harness status` shows its new leader")
        new = failover_to_most_advanced(self.cluster)
        self._save()
        return new

    def heal(self) -> list[str]:
        """Thaw what is paused, bring back what is down (a deposed primary rejoins as a replica)."""
        done = []
        for name in list(self.state.paused):
            self.cluster.node(name).resume()
            self.history.add(FaultEvent(at=now(), fault="pause", target=name, phase="heal", detail="unpaused"))
            done.append(f"{name}: unpaused")
        self.state.paused = []
        for name in sorted(self.cluster.down):
            t0 = now()
            if self.cluster.kind == "patroni":  # issue 4: boot it; Patroni rejoins it (rewind or reinit)
                cast(Any, self.cluster).restart_patroni(name)
                how = "booted, Patroni started (it rejoins by itself)"
                self.history.add(ActionEvent(at=t0, end=now(), action="restart", target=name, outcome="ok",
                                             detail=how))
            elif name != self.cluster.primary and self.cluster.old_primary == name:
                how = rejoin_as_replica(self.cluster, name)
            else:
                self.cluster.start_postgres(name)
                self.cluster.wait_ready(name)
                how = "started"
                self.history.add(ActionEvent(at=t0, end=now(), action="restart", target=name, outcome="ok"))
            self.cluster.down.discard(name)
            self.history.add(FaultEvent(at=now(), fault="restart", target=name, phase="heal", detail=how))
            done.append(f"{name}: {how}")
        self._save()
        return done

    def down(self) -> None:
        remove_run(self.cluster.runtime.client, self.state.run_id)
        labels.unkeep(self.state.run_id)
        self.history.note("session.down")
        self.history.close()
        state_file().unlink(missing_ok=True)
