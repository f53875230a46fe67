"""A topology left running for manual experiments: `harness up`, `status`, `inject`, `heal`, `down`.

The state (which run, who is primary, what is down or frozen) lives in a small JSON file so
each command, a new process, can pick the topology up where the last one left it; every
action goes into the session's journal like a drill's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from harness import labels
from harness.environment import Environment, load_environment
from harness.errors import SetupError
from harness.faults.base import Fault, FaultSet
from harness.faults.freeze import thaw
from harness.faults.process import fault_named
from harness.history import FaultEvent, History, now
from harness.recovery import failover_to_most_advanced
from harness.runtime.base import Pausable
from harness.runtime.docker import DockerRuntime, remove_run
from harness.runtime.preflight import check_host_disk
from harness.topology import registry
from harness.topology.base import Attachable, Promotable, Restartable, Topology, need
from harness.topology.pg import sql, sql_one

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


class _Pause:
    """``docker pause`` of a node as a fault (healed by ``harness heal``, in another process)."""

    name = "pause"
    one_shot = True  # the session's state file, not this process, remembers it

    def __init__(self, cluster: Topology, target: str) -> None:
        node = cluster.node(target)
        if not isinstance(node, Pausable):
            raise SetupError(f"{target} cannot be paused on the {cluster.runtime.name} runtime")
        self.node, self.target = node, target
        self.outcome = ""

    def inject(self) -> str:
        self.node.pause()
        return f"docker pause {self.target}"

    def heal(self) -> str:
        # Quietly when it is not paused any more (its time ran out, or something restarted it).
        self.outcome = "unpaused" if thaw(self.node) else "no longer paused"
        return self.outcome


class Session:
    SCOPE = "up"

    def __init__(self, state: SessionState, cluster: Topology, history: History) -> None:
        self.state, self.cluster, self.history = state, cluster, history
        # The drill's fault path: every inject is stamped and journaled the same way.
        self.faults = FaultSet(history)

    @property
    def directory(self) -> Path:
        return state_file().parent / self.state.run_id

    @classmethod
    def up(cls, environment: str, replicas: int | None, replication: str | None) -> Session:
        if state_file().exists():
            raise SetupError(f"a topology is already up ({SessionState.load().run_id}): `harness down` first")
        env: Environment = load_environment(environment)
        if env.regions is not None:
            # The WAN link's packet delayer lives in the process that starts it, which `harness up`
            # leaves at once: standing it up half, or as plain streaming, would lie about what runs.
            raise SetupError(f"harness up cannot stand up {env.source or environment} (two regions, a WAN router): "
                             "its drills run with `harness run features/disaster_recovery/regions.feature`; "
                             "`harness up` takes streaming, streaming-sync, streaming-auth or patroni")
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
        cluster = registry.create(runtime, env, history)
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
        cluster = registry.create(DockerRuntime.attach(state.run_id, cls.SCOPE), env, history)
        # A topology whose manager names the primary itself ignores the primary recorded here.
        need(cluster, Attachable, "taking a running topology over").attach(
            primary=state.primary, old_primary=state.old_primary, down=state.down)
        for name in state.paused:
            cluster.roles.paused_node(name)
        return cls(state, cluster, history)

    def _save(self) -> None:
        roles = self.cluster.roles
        self.state.primary = self.cluster.primary
        self.state.old_primary = roles.old_primary
        self.state.down = sorted(roles.down)
        self.state.paused = sorted(roles.paused)
        self.state.save()

    def inject(self, fault: str, role: str) -> str:
        if fault not in FAULTS:
            raise SetupError(f"unknown fault {fault!r}: one of {', '.join(FAULTS)}")
        target = self.cluster.resolve(role)
        if target in self.cluster.roles.down:
            raise SetupError(f"{target} is already down: `harness heal` brings it back, `harness status` shows it")
        if target in self.cluster.roles.paused:
            raise SetupError(f"{target} is paused: `harness heal` thaws it first")
        f: Fault = _Pause(self.cluster, target) if fault == "pause" else fault_named(fault, self.cluster, target)
        try:
            event = self.faults.inject(f)
        except Exception as exc:
            # The state file may not know (stopped by other means): Docker answers 409 "is not running".
            if "is not running" in str(exc) or "is paused" in str(exc):
                self.faults.active.clear()  # nothing was applied: there is nothing to heal
                raise SetupError(f"{target} is already down ({'paused' if 'paused' in str(exc) else 'not running'}"
                                 "): `harness heal` brings it back") from exc
            raise
        if fault == "pause":
            self.cluster.roles.paused_node(target)
        else:
            self.cluster.roles.took_down([target])
        self._save()
        return event.detail

    def failover(self) -> tuple[str, list[str]]:
        """Promote the most advanced replica; say of every other replica whether it follows the
        new primary now, and why not when it does not (paused, down, not answering)."""
        old = self.cluster.primary
        roles = self.cluster.roles
        new = failover_to_most_advanced(self.cluster)
        self._save()
        notes = []
        for name in self.cluster.names:
            if name in (new, old):
                continue
            if name in roles.paused:
                notes.append(f"{name}: not repointed: it is paused (`harness heal` thaws it and repoints it to {new})")
            elif name in roles.down:
                notes.append(f"{name}: not repointed: it is down (`harness heal` starts it as a replica of {new})")
            else:
                try:
                    conninfo = str(sql_one(self.cluster.address(name), "SHOW primary_conninfo", timeout=2))
                except Exception as exc:  # noqa: BLE001 - said, not hidden
                    notes.append(f"{name}: not repointed: it did not answer ({exc})")
                    continue
                ok = f"host={new} " in conninfo + " "
                notes.append(f"{name}: repointed to {new}" if ok else
                             f"{name}: not repointed: it still follows {conninfo!r}")
        return new, notes

    def replication(self) -> dict[str, tuple[str, str]]:
        """Each replica's upstream and lag behind it, as the primary and the replica report them."""
        out: dict[str, tuple[str, str]] = {}
        c, roles = self.cluster, self.cluster.roles
        try:
            rows = sql(c.address(c.primary), "SELECT application_name, state, "
                       "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), replay_lag FROM pg_stat_replication",
                       timeout=2)
        except Exception:  # noqa: BLE001 - a primary that does not answer: ask the replicas
            rows = []
        for name, state, lag_bytes, lag_time in rows:
            when = "" if lag_time is None else f", {lag_time.total_seconds():.3f} s"
            out[str(name)] = (f"{c.primary} ({state})", f"{int(lag_bytes or 0)} bytes{when}")
        for name in c.names:
            if name == c.primary or name in out or name in roles.paused or name in roles.down:
                continue
            try:
                got = sql(c.address(name), "SELECT sender_host, status FROM pg_stat_wal_receiver", timeout=2)
            except Exception:  # noqa: BLE001 - not answering: the status table says n/a
                continue
            out[name] = (f"{got[0][0]} ({got[0][1]})", "n/a") if got else ("none (not streaming)", "n/a")
        return out

    def _follow_primary(self, name: str) -> str:
        """A replica that missed a failover (paused or down then) streams from the primary now."""
        if name == self.cluster.primary or self.cluster.kind == "patroni" or not isinstance(self.cluster, Promotable):
            return ""
        self.cluster.repoint(name, self.cluster.primary)
        return f", following {self.cluster.primary}"

    def heal(self) -> list[str]:
        """Thaw what is paused, bring back what is down (a deposed primary rejoins as a replica)."""
        done = []
        roles = self.cluster.roles
        for name in sorted(roles.paused):
            pause = _Pause(self.cluster, name)
            self.faults.active.append(pause)  # paused by an earlier process: healed through the same set
            self.faults.heal(pause)
            roles.resumed(name)
            done.append(f"{name}: {pause.outcome}" + ("" if name in roles.down else self._follow_primary(name)))
        for name in sorted(roles.down):
            node = need(self.cluster, Restartable, f"starting {name} again")
            deposed = name != self.cluster.primary and roles.old_primary == name
            how = node.start_again(name, deposed=deposed)
            roles.came_back(name)
            if not deposed:
                how += self._follow_primary(name)
            self.history.add(FaultEvent(at=now(), fault="restart", target=name, phase="heal", detail=how))
            done.append(f"{name}: {how}")
        self._save()
        return done

    def down(self) -> None:
        runtime = self.cluster.runtime
        if isinstance(runtime, DockerRuntime):
            remove_run(runtime.client, self.state.run_id)
        else:
            runtime.teardown()
        labels.unkeep(self.state.run_id)
        self.history.note("session.down")
        self.history.close()
        state_file().unlink(missing_ok=True)
