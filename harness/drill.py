"""One scenario's drill: topology, probes, faults and recovery over one history.

The drill is the context the steps delegate to. It starts the topology lazily (so Given
steps compose in any order before it exists), ends the measurement window when a Then
step first asks for a number, and on ``close`` heals every fault, stops the probes, closes
its parts, removes everything it made and writes the journal, whatever happened before.

Seams (see CONTRIBUTING.md):

- the topology is made by :mod:`harness.topology.registry` from the environment (or a kind
  a step chose with :meth:`Drill.choose_topology`) and used through the
  :class:`~harness.topology.base.Topology` protocol; what only some topologies can do is
  asked for with :func:`~harness.topology.base.need`;
- role state lives in the topology's :class:`~harness.topology.roles.Roles`, changed here
  (faults, restarts) and in the recovery functions;
- everything else a drill runs (monitor, background load, fan-out probe, Toxiproxy, backups,
  a client path) is a part (:mod:`harness.parts`): ``add_part``, ``part(T)``, ``maybe_part(T)``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from harness.checkers import Measurements, Violation, evaluate, measure
from harness.checkers.steady import SteadyState
from harness.environment import Environment, default_environment
from harness.errors import HarnessError, SetupError, TargetMissed, WaitTimeout
from harness.faults import Fault, FaultSet
from harness.gameday.expect import check_steady_state
from harness.gameday.guards import AbortCondition, Guard
from harness.history import ActionEvent, FaultEvent, FinalRead, History, ProbeOp, now, seq_ranges
from harness.monitor import AlertMonitor
from harness.monitor.choose import new_monitor
from harness.parts import (
    ClientPath,
    DirectPath,
    EndsWithWindow,
    FollowsPrimary,
    Part,
    ReadPath,
    ReportsSection,
    StartsBeforeWindow,
    StartsWithProbes,
)
from harness.recovery import failover_to_most_advanced
from harness.result import METRICS, ScenarioResult
from harness.runtime.preflight import check_host_disk
from harness.secrets import redact
from harness.topology import registry
from harness.topology.base import HasParts, Restartable, Topology, need
from harness.topology.pg import sql
from harness.topology.roles import Roles
from harness.wait import wait_until
from harness.workload import ReadProbe, WriteProbe
from harness.workload.load import LoadProcess, create_schema

if TYPE_CHECKING:
    from harness.faults.toxiproxy import ToxiproxyServer
    from harness.runtime.base import Runtime
    from harness.workload.fanout import FanoutWriteProbe

__all__ = ["Drill", "ScenarioResult"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "scenario"


class Drill:
    def __init__(self, run_id: str, scope: str, directory: Path, env: Environment | None = None) -> None:
        self.run_id = run_id
        self.scope = scope
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.history = History(journal=directory / "journal.jsonl")
        self.env = env or default_environment()
        self.targets = self.env.targets
        self.asserted: set[str] = set()
        self.waived: set[str] = set()  # measurements no default target judges (see waive)
        self.faults = FaultSet(self.history)
        self._runtime: Runtime | None = None
        self._cluster: Topology | None = None
        self._kind: str | None = None  # a topology kind a step chose (else the environment's)
        self._kind_options: dict[str, Any] = {}
        self._stack = ExitStack()
        self._parts: list[Part] = []
        self.part_problems: list[str] = []
        self.runbook_answers: list[str] = []  # scripted answers to manual runbook steps (CI)
        self.steady: SteadyState | None = None
        self.abort_conditions: list[AbortCondition] = []
        self.guard: Guard | None = None
        self.write_probe: WriteProbe | None = None
        self.read_probe: ReadProbe | None = None
        self._measurements: Measurements | None = None
        self._window_open = False
        self.finished = False  # closed and reported (the plugin closes once)
        self.step_failed = False  # a step raised: node logs go into the report
        self.history.note("drill.created", f"environment {self.env.name} ({self.env.source or 'built in'})")

    # -- configuration (Given) ---------------------------------------------------------------

    def configure(self, **topology: Any) -> None:
        """Change the topology to start; a running one is replaced (Givens compose in any order)."""
        if self._cluster is not None and self._cluster.started and topology:
            self.history.note("topology.replaced", "a later Given changed the topology: starting it again")
            self._stop_probes()
            self._cluster.release()
            self._cluster.teardown()
            self._cluster = None
            if self._runtime is not None:
                self._runtime.teardown()
            self._runtime = None
            self._window_open = False
            self.write_probe = self.read_probe = None
        if topology:
            self.env = self.env.with_topology(**topology)

    def use_environment(self, env: Environment) -> None:
        """Switch to another environment file (before the topology starts, or restarting it)."""
        self.configure()
        self.env = env
        self.targets = env.targets

    def choose_topology(self, kind: str, **options: Any) -> None:
        """Start a topology of ``kind`` (see :mod:`harness.topology.registry`) instead of the one
        the environment selects; ``options`` reach its factory (later calls add to them)."""
        if self.topology_started:
            raise SetupError(f"the {kind} Givens must come before the topology starts (probes, faults)")
        registry.choose(self.env, kind)  # an unknown kind fails here, at the Given
        if kind != self._kind:
            self._kind_options = {}
        self._kind = kind
        self._kind_options.update(options)

    @property
    def topology_kind(self) -> str:
        """The kind that runs, or will run when the topology starts."""
        return self._cluster.kind if self._cluster is not None else registry.choose(self.env, self._kind).kind

    def topology_options(self, kind: str) -> dict[str, Any]:
        """What steps chose for a topology of ``kind`` so far ({} for another kind)."""
        return dict(self._kind_options) if kind == self._kind else {}

    def set_probe_interval(self, seconds: float) -> None:
        from pydantic import ValidationError

        from harness.environment import ProbeSettings

        try:  # an outage threshold the environment set must still be at least 3 of the new intervals
            probe = ProbeSettings.model_validate(self.env.probe.model_dump() | {"interval_ms": seconds * 1000})
        except ValidationError as exc:
            raise SetupError(f"probe every {seconds * 1000:g} ms with the environment's probe.outage_threshold_ms: "
                             f"{exc.errors()[0]['msg']}") from exc
        self.env = self.env.model_copy(update={"probe": probe})

    def set_outage_threshold(self, seconds: float) -> None:
        """An outage is any span this long without a surviving acknowledged write (>= 3 probe intervals)."""
        from pydantic import ValidationError

        from harness.environment import ProbeSettings

        try:
            probe = ProbeSettings.model_validate(self.env.probe.model_dump() | {"outage_threshold_ms": seconds * 1000})
        except ValidationError as exc:
            raise SetupError(f"outage threshold: {exc.errors()[0]['msg']}") from exc
        self.env = self.env.model_copy(update={"probe": probe})

    @property
    def cluster(self) -> Topology:
        """The live topology, started on first use."""
        if self._cluster is None or not self._cluster.started:
            if self._runtime is None:
                from harness.runtime.docker import DockerRuntime

                check_host_disk([Path("/var/lib/docker"), self.directory])
                self._runtime = DockerRuntime(self.run_id, self.scope)
            self._cluster = registry.create(self._runtime, self.env, self.history, chosen=self._kind,
                                            options=self._kind_options)
            self._cluster.start()
            if isinstance(self._cluster, HasParts):
                for part in self._cluster.drill_parts():
                    self.add_part(part)
            if self.env.auth is not None:
                self._require_password(self.env.auth.password_env)
        return self._cluster

    def adopt(self, topology: Topology) -> None:
        """Use a topology that is already running (a unit test's, on the fake runtime)."""
        if self.topology_started:
            raise SetupError("the drill already runs a topology")
        self._runtime, self._cluster = topology.runtime, topology

    @property
    def topology_started(self) -> bool:
        return self._cluster is not None and self._cluster.started

    @property
    def roles(self) -> Roles:
        """The live topology's roles (read them here; they change through the drill's methods)."""
        return self.cluster.roles

    # -- parts -------------------------------------------------------------------------------

    def add_part(self, part: T) -> T:
        """Enter ``part`` on the drill's exit stack; it is closed on close, newest first."""
        part.__enter__()  # type: ignore[attr-defined]
        exit_ = part.__exit__  # type: ignore[attr-defined]

        def close(et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> bool:
            try:
                exit_(et, ev, tb)
            except Exception as exc:  # noqa: BLE001 - one part's failure never keeps the others open
                self.part_problems.append(f"closing {type(part).__name__}: {exc!r}")
            return False

        self._stack.push(close)
        self._parts.append(part)  # type: ignore[arg-type]
        if self._window_open and isinstance(part, StartsWithProbes):
            part.probes_started(self)
        return part

    def maybe_part(self, kind: type[T]) -> T | None:
        """The newest part that is a ``kind`` (a class or a runtime-checkable protocol), or None."""
        for p in reversed(self._parts):
            if isinstance(p, kind):
                return p
        return None

    def part(self, kind: type[T]) -> T:
        """The part of type ``kind``, created with ``kind.for_drill(drill)`` when it has one."""
        found = self.maybe_part(kind)
        if found is not None:
            return found
        factory = getattr(kind, "for_drill", None)
        if factory is None:
            raise SetupError(f"this drill has no {kind.__name__}")
        made: T = self.add_part(factory(self))
        return made

    def parts(self) -> list[Part]:
        return list(self._parts)

    def result_sections(self) -> dict[str, Any]:
        """What the parts contribute to the scenario's result (``ScenarioResult.sections``)."""
        out: dict[str, Any] = {}
        for p in self._parts:
            if isinstance(p, ReportsSection):
                try:
                    section = p.result_section()
                except Exception as exc:  # noqa: BLE001 - reported, never a silent hole
                    self.part_problems.append(f"{type(p).__name__} section: {exc!r}")
                    continue
                if section is not None:
                    out[p.section] = section
        return out

    # -- workload ----------------------------------------------------------------------------

    def client_path(self) -> ClientPath:
        """How clients reach the service: the newest ClientPath part, else straight to the primary."""
        return self.maybe_part(ClientPath) or DirectPath()

    def _primary_endpoint(self) -> tuple[str, str] | None:
        c = self._cluster
        if c is None:
            return None
        try:
            return self.client_path().primary_endpoint(c)
        except Exception:  # noqa: BLE001 - a node that is down has no address; the attempt fails
            return None

    def _read_endpoint(self) -> tuple[str, str] | None:
        """The read probe's target: the path's read-only side where it has one, else the primary."""
        c, path = self._cluster, self.client_path()
        if c is None or not isinstance(path, ReadPath):
            return self._primary_endpoint()
        try:
            return path.read_endpoint(c)
        except Exception:  # noqa: BLE001 - a node that is down has no address; the attempt fails
            return None

    @property
    def monitor(self) -> AlertMonitor | None:
        """The harness's own Monitor, or real alerting's PrometheusMonitor (monitor.prometheus)."""
        return self.maybe_part(AlertMonitor)

    @property
    def load(self) -> LoadProcess | None:
        return self.maybe_part(LoadProcess)

    @property
    def toxiproxy(self) -> ToxiproxyServer | None:
        from harness.faults.toxiproxy import ToxiproxyPath

        path = self.maybe_part(ToxiproxyPath)
        return path.server if path is not None else None

    @property
    def fanout_probe(self) -> FanoutWriteProbe | None:
        from harness.workload.fanout import FanoutWriteProbe

        return self.maybe_part(FanoutWriteProbe)

    def start_probes(self, interval_s: float | None = None, *, reads: bool = True) -> None:
        if interval_s is not None:
            self.set_probe_interval(interval_s)
        cluster = self.cluster
        p = self.env.probe
        kw = dict(table=p.table, interval_s=p.interval_ms / 1000, timeout_s=p.timeout_ms / 1000,
                  max_duration_s=p.max_duration_s)
        starting = not self._window_open
        if self.monitor is None and self.env.monitor.enabled:
            # Before the window opens: Prometheus takes seconds to be ready, which is no outage.
            monitor = self.add_part(new_monitor(self.env, cluster, self.history, self._runtime, self.directory))
            monitor.start()
        if starting:
            for part in list(self._parts):
                if isinstance(part, StartsBeforeWindow):
                    part.before_window(self)
            self.history.note("window_start", f"probe every {p.interval_ms:g} ms on {cluster.describe()}")
            self._window_open = True
        if self.guard is None and self.abort_conditions:
            self.guard = Guard(self.history, self.abort_conditions, interval_s=p.interval_ms / 1000,
                               max_duration_s=p.max_duration_s)
            self.guard.start()
        if self.write_probe is None:
            self.write_probe = WriteProbe(self.history, self._primary_endpoint, **kw)  # type: ignore[arg-type]
            self.write_probe.start()
        if reads and self.read_probe is None:
            self.read_probe = ReadProbe(self.history, self._read_endpoint, **kw)  # type: ignore[arg-type]
            self.read_probe.start()
        if starting:
            for part in list(self._parts):
                if isinstance(part, StartsWithProbes):
                    part.probes_started(self)
        # Steady state first: the window starts with an acknowledged write.
        wait_until(lambda: any(o.outcome == "ok" and o.probe == "write" for o in self.history.of(ProbeOp)),
                   timeout=10, what="the first acknowledged probe write")

    def start_load(self, profile: str, users: int, ramp_s: float) -> None:
        """Background load in its own locust process, ramped up before returning."""
        if self.load is not None:
            raise SetupError("a background load is already running in this drill")
        cluster = self.cluster
        create_schema(cluster.address(cluster.primary))

        def endpoint() -> str | None:
            ep = self._primary_endpoint()
            return ep[1] if ep else None

        load = self.add_part(LoadProcess(self.history, self.directory, endpoint, profile=profile, users=users,
                                         ramp_s=ramp_s, max_duration_s=self.env.probe.max_duration_s))
        load.start()
        t0 = now()
        self.history.note("load.start", f"{profile}: {users} users over {ramp_s:g} s")
        time.sleep(ramp_s)
        if not load.users_running():
            raise SetupError(f"the load process exited: {(self.directory / 'load.log').read_text()[-1500:]}")
        self.history.add(ActionEvent(at=t0, end=now(), action="load.ramp_up", target=profile, outcome="ok",
                                     detail=f"{users} users"))

    def clients_moved(self) -> None:
        """The primary changed: tell the clients that do not ask each time (the background load,
        a pooler in front of the primary)."""
        for part in list(self._parts):
            if isinstance(part, FollowsPrimary):
                part.primary_moved(self)
        load = self.load
        if load is not None:
            load.point_at_primary()

    def _stop_probes(self) -> None:
        for probe in (self.write_probe, self.read_probe):
            if probe is not None:
                probe.stop()
                if probe.error is not None:
                    raise SetupError(f"the {probe.kind} probe crashed: {probe.error!r}")

    def start_fanout(self, timeout_s: float | None = None) -> None:
        """A write probe to EVERY node at once (split-brain evidence); stopped before the final read.

        ``timeout_s`` (default: the probe's) is how long a writer waits for an answer: a long
        one is a patient client whose write, sent to a frozen node, is answered on the thaw."""
        from harness.workload.fanout import FanoutWriteProbe

        if self.fanout_probe is not None:
            return
        cluster = self.cluster
        p = self.env.probe
        path = self.client_path()

        def address(name: str) -> str | None:
            try:
                return path.endpoint(cluster, name)
            except Exception:  # noqa: BLE001 - a node that is down has no address
                return None

        probe = self.add_part(FanoutWriteProbe(self.history, list(cluster.names), address,
                                               interval_s=p.interval_ms / 1000,
                                               timeout_s=timeout_s if timeout_s is not None else p.timeout_ms / 1000,
                                               max_duration_s=p.max_duration_s))
        probe.start()

    # -- faults and recovery (When) ----------------------------------------------------------

    def target(self, role: str) -> str:
        """A role as written in a step, resolved against the live topology now."""
        return self.cluster.resolve(role)

    def apply(self, fault: Fault, *, takes_down: bool = False) -> Fault:
        """Inject a constructed fault (healed on close if it is not one-shot); with ``takes_down``
        its target counts as down (and, if it was the primary, as the old primary) until it is
        brought back."""
        cluster = self.cluster
        self._before_first_fault()
        self.faults.inject(fault)
        if takes_down:
            cluster.roles.took_down([fault.target])
        return fault

    def took_down(self, *names: str) -> None:
        """Nodes a fault already applied took down (a disk full, a region lost)."""
        self.cluster.roles.took_down(names)

    def deposed(self, name: str) -> None:
        """``name`` is no longer the primary without being down (cut off, switched over, a zombie)."""
        self.cluster.roles.deposed(name)

    def brought_back(self, name: str) -> None:
        """A node the recovery path started again."""
        self.cluster.roles.came_back(name)

    def heal_all(self) -> list[str]:
        return self.faults.heal_all()

    def route_clients_through_toxiproxy(self) -> ToxiproxyServer:
        """Start a Toxiproxy server on loopback and send the probes to every node through it."""
        from harness.faults.toxiproxy import ToxiproxyPath, ToxiproxyServer

        if self.toxiproxy is None:
            path = ToxiproxyPath(ToxiproxyServer().start(), self.cluster)
            self.add_part(path)
            self.history.note("toxiproxy", f"clients go through Toxiproxy: {path.routes}")
        server = self.toxiproxy
        assert server is not None
        return server

    def _before_first_fault(self) -> None:
        # The hypothesis is checked once, right before the first fault: a drill on a system
        # that is already unhealthy measures nothing useful.
        if self.steady is not None and not self.history.of(FaultEvent):
            check_steady_state(self, "before the fault")

    def inject(self, fault_name: str, role: str) -> Fault:
        from harness.faults.process import fault_named

        cluster = self.cluster
        self._before_first_fault()
        target = cluster.resolve(role)
        fault = fault_named(fault_name, cluster, target)
        self.faults.inject(fault)
        cluster.roles.took_down([target])
        return fault

    def restart(self, role: str) -> str:
        """Boot a node again; a deposed primary comes back as a replica of the new one."""
        cluster = self.cluster
        target = cluster.resolve(role)
        node = need(cluster, Restartable, f"starting {target} again")
        how = node.start_again(target, deposed=target != cluster.primary and cluster.roles.old_primary == target)
        cluster.roles.came_back(target)
        self.history.add(FaultEvent(at=now(), fault="restart", target=target, phase="heal", detail=how))
        return how

    def failover(self) -> str:
        new = failover_to_most_advanced(self.cluster, on_promoted=lambda _: self.clients_moved())
        # Tell the load's clients at once, as the probes learn it: they share one service address.
        self.clients_moved()
        return new

    def wait(self, seconds: float) -> None:
        self.history.note("wait", f"{seconds:g} s")
        time.sleep(seconds)

    # -- expectations (Then) -----------------------------------------------------------------

    def expect_one_primary(self, timeout: float) -> str:
        t0 = now()
        try:
            name = self.cluster.wait_one_primary(timeout)
        except WaitTimeout as exc:
            self.history.add(ActionEvent(at=t0, end=now(), action="expect.one_primary", outcome="failed",
                                         detail=str(exc)))
            raise TargetMissed("primaries", f"not exactly one within {timeout:g} s ({exc})", "exactly one") from exc
        self.history.add(ActionEvent(at=t0, end=now(), action="expect.one_primary", target=name, outcome="ok"))
        if name != self.cluster.primary:
            raise TargetMissed("primary", f"{name} accepts writes, but the harness made {self.cluster.primary} primary",
                               self.cluster.primary)
        return name

    def expect_streaming(self, timeout: float) -> list[str]:
        c = self.cluster
        want = [n for n in c.replicas() if n not in c.roles.down]
        t0 = now()
        try:
            c.wait_streaming(timeout=timeout, expect=want)
        except WaitTimeout as exc:
            self.history.add(ActionEvent(at=t0, end=now(), action="expect.streaming", outcome="failed",
                                         detail=str(exc)))
            raise TargetMissed("streaming replicas", str(exc), f"{', '.join(want)} streaming within {timeout:g} s") from exc
        skipped = f" (down: {', '.join(sorted(c.roles.down))})" if c.roles.down else ""
        self.history.add(ActionEvent(at=t0, end=now(), action="expect.streaming", target=",".join(want),
                                     outcome="ok", detail=f"streaming from {c.primary}{skipped}"))
        return want

    # -- steady state and stop conditions (game day) -------------------------------------------

    def declare_steady_state(self, state: SteadyState) -> None:
        self.steady = state
        self.history.note("steady_state", state.model_dump_json())

    def add_abort_condition(self, condition: AbortCondition) -> None:
        self.abort_conditions.append(condition)
        self.history.note("abort_condition", condition.describe())

    # -- measurement (Then) ------------------------------------------------------------------

    def end_window(self, *, settle: bool = True) -> None:
        """End the measured window: stop the probes, read what the primary holds.

        ``settle=False`` (an interrupted or failed drill) closes at once, without waiting for
        the probes to show steady service.
        """
        if not self._window_open:
            return
        if settle:
            self._settle()
        self._window_open = False
        # The window ends before the probes are told to stop, so stopping is not an outage.
        self.history.note("window_end")
        self._stop_probes()
        self.final_read()

    def _settle(self) -> None:
        """Before closing the window, let the probes show that service is steady again.

        "Writes keep succeeding" needs a few attempts after recovery: the window stays open
        until the last ``settle_ops`` attempts of every running probe succeeded, or until
        ``settle_s`` has passed (then the numbers say what was seen: not recovered).
        """
        p = self.env.probe
        probes = [x for x in (self.write_probe, self.read_probe) if x is not None and x.running]
        if not probes:
            return

        def steady() -> bool:
            ops = self.history.of(ProbeOp)
            for probe in probes:
                mine = [o for o in ops if o.probe == probe.kind][-p.settle_ops:]
                if len(mine) < p.settle_ops or any(o.outcome != "ok" for o in mine):
                    return False
            return True

        if steady():
            return
        self.history.note("window.settling", f"waiting up to {p.settle_s:g} s for {p.settle_ops} successes in a row")
        try:
            wait_until(steady, timeout=p.settle_s, interval=p.interval_ms / 1000, what="steady probes")
        except WaitTimeout:
            self.history.note("window.unsettled", f"no steady service within {p.settle_s:g} s")

    def final_read(self) -> FinalRead | None:
        c = self._cluster
        if c is None:
            return None
        for part in list(self._parts):  # e.g. the fan-out probe: what the survivor holds of its rows
            if isinstance(part, EndsWithWindow):
                try:
                    part.window_ending(self)
                except Exception as exc:  # noqa: BLE001 - one part's read never hides the probe's
                    self.history.note("final_read.part_failed", f"{type(part).__name__}: {exc}"[:300])
        t0 = now()
        try:
            rows = sql(c.address(c.primary), f"SELECT seq FROM {self.env.probe.table} ORDER BY seq", timeout=10)
        except Exception as exc:  # noqa: BLE001 - no final read makes RPO "unknown", never 0
            self.history.note("final_read.failed", f"{c.primary}: {exc}")
            return None
        return self.history.add(FinalRead(at=t0, node=c.primary, present=seq_ranges(int(r[0]) for r in rows)))

    def measurements(self) -> Measurements:
        if self._measurements is None:
            self.end_window()
            p, t = self.env.probe, self.targets
            self._measurements = measure(self.history, p.interval_ms / 1000, outage_threshold_s=p.outage_threshold_s,
                                         slo=t.slo, slo_period_s=t.slo_period)
        return self._measurements

    def require(self, **target: Any) -> Measurements:
        """Tighten the scenario's targets and check them; raise TargetMissed with the number."""
        self.targets = self.targets.with_(**target)
        self.asserted.update(target)
        m = self.measurements()
        bound = {m.target: m.key for m in METRICS if m.target is not None}  # Targets field -> measurement
        wanted = {bound[k] for k in target}
        misses = [v for v in evaluate(m, self.targets) if v.name in wanted]
        if misses:
            extra = f" ({'; '.join(m.problems)})" if m.problems else ""
            raise TargetMissed(misses[0].name, misses[0].message + extra, misses[0].target)
        return m

    @property
    def measurements_taken(self) -> bool:
        return self._measurements is not None

    def violations(self) -> list[Violation]:
        if self._measurements is None:
            return []
        return [v for v in evaluate(self._measurements, self.targets) if v.name not in self.waived]

    def waive(self, names: set[str], why: str) -> None:
        """Leave these measurements unjudged by the default targets, saying why in the journal
        (a drill that by design never gives the service back still reports them, unjudged)."""
        self.waived |= names
        self.history.note("targets.waived", f"{', '.join(sorted(names))}: {why}")

    # -- the end -----------------------------------------------------------------------------

    def close(self, *, settle: bool = True) -> list[str]:
        """Heal, stop, measure if anything ran, close the parts, remove everything. Returns problems met."""
        if self.guard is not None:
            self.guard.stop()
        problems = self.faults.heal_all()
        try:
            if self._window_open and self._cluster is not None:
                self.end_window(settle=settle)
                self.measurements()
        except HarnessError as exc:
            problems.append(f"measuring at close: {exc}")
        except Exception as exc:  # noqa: BLE001 - still remove everything
            problems.append(f"measuring at close: {exc!r}")
        for probe in (self.write_probe, self.read_probe):
            if probe is not None:
                probe.stop()
        self._stack.close()  # the parts, newest first
        problems += self.part_problems
        if self._cluster is not None:
            self._save_logs()
            problems += self._cluster.release()
        keep = bool(os.environ.get("HARNESS_KEEP"))
        if keep:
            from harness.labels import keep as keep_run

            keep_run(self.run_id, "harness drill --keep")
            self.history.note("drill.kept", "HARNESS_KEEP: the topology is left running (harness clean removes it)")
        if self._runtime is not None and not keep:
            try:
                self._runtime.teardown()
            except Exception as exc:  # noqa: BLE001
                from harness.runtime.docker_client import lost_daemon

                gone = lost_daemon(exc)
                problems.append(f"teardown: {exc!r}" if gone is None else
                                f"teardown: {gone}; what this run made is removed by the next start (or "
                                f"`harness clean`) once a daemon runs again")
        if self.env.auth is not None:
            os.environ.pop("PGPASSWORD", None)  # the next drill may use another environment
        self.history.note("drill.closed", "; ".join(problems))
        self.history.close()
        if self._measurements is not None:
            (self.directory / "measurements.json").write_text(
                json.dumps(self._measurements.model_dump(), indent=2) + "\n")
        return problems

    def _require_password(self, variable: str) -> None:
        from harness.topology.auth import password_from_environment, require_password

        require_password(self.cluster, password_from_environment(variable))
        self.history.note("auth.password", f"the host's connections need the password in ${variable} (SCRAM)")

    def _save_logs(self) -> None:
        assert self._cluster is not None
        logs = self.directory / "logs"
        logs.mkdir(exist_ok=True)
        for name in self._cluster.names:
            try:
                (logs / f"{name}.log").write_text(redact(self._cluster.node_logs(name, 400)))
            except Exception:  # noqa: BLE001
                pass

    # -- the runtime -------------------------------------------------------------------------

    def enable_backups(self, settings: dict[str, str]) -> None:
        """Start the topology with ``settings`` (archiving); a running one is replaced and its
        runtime removed, so that :meth:`use_runtime` can give one that mounts the repository."""
        self.configure(settings={**self.env.topology.settings, **settings})
        if self._runtime is not None:
            self._runtime.teardown()
            self._runtime = None

    def use_runtime(self, runtime: Runtime) -> None:
        """The runtime the topology starts on (before it starts; e.g. harness.backup's)."""
        if self.topology_started:
            raise SetupError("the topology is already running on another runtime")
        self._runtime = runtime
