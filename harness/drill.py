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
from harness.checkers.detection import detection
from harness.checkers.load import LoadPhase, load_phases
from harness.checkers.steady import SteadyReading, SteadyState, reading
from harness.environment import Environment, default_environment
from harness.errors import HarnessError, SetupError, TargetMissed, WaitTimeout
from harness.faults import Fault, FaultSet
from harness.gameday.guards import AbortCondition, Guard
from harness.history import ActionEvent, AlertEvent, FaultEvent, FinalRead, History, ProbeOp, now, seq_ranges
from harness.monitor import Monitor, load_rules
from harness.parts import ClientPath, DirectPath, EndsWithWindow, Part, ReportsSection, StartsWithProbes
from harness.recovery import failover_to_most_advanced
from harness.result import METRICS, ScenarioResult
from harness.runtime.preflight import check_host_disk
from harness.secrets import redact
from harness.topology import registry
from harness.topology.base import Restartable, Topology, need
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


def psql_ident(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_.]*", name):
        raise SetupError(f"not a setting name: {name!r}")
    return name


def psql_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "scenario"


#: Targets fields by the measurement they bound (from the metric list: no second list here).
_BOUND = {m.target: m.key for m in METRICS if m.target is not None}


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
        probe = self.env.probe.model_copy(update={"interval_ms": seconds * 1000})
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
        entered = part.__enter__()  # type: ignore[attr-defined]
        assert entered is not None
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

    @property
    def monitor(self) -> Monitor | None:
        return self.maybe_part(Monitor)

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
        if starting:
            self.history.note("window_start", f"probe every {p.interval_ms:g} ms on {cluster.describe()}")
            self._window_open = True
        if self.monitor is None and self.env.monitor.enabled:
            monitor = self.add_part(Monitor(cluster, self.history, load_rules(), interval_s=self.env.monitor.interval_s,
                                            timeout_s=self.env.monitor.timeout_s, max_duration_s=p.max_duration_s,
                                            disk_usage=cluster.disk_usage))
            monitor.start()
        if self.guard is None and self.abort_conditions:
            self.guard = Guard(self.history, self.abort_conditions, interval_s=p.interval_ms / 1000,
                               max_duration_s=p.max_duration_s)
            self.guard.start()
        if self.write_probe is None:
            self.write_probe = WriteProbe(self.history, self._primary_endpoint, **kw)  # type: ignore[arg-type]
            self.write_probe.start()
        if reads and self.read_probe is None:
            self.read_probe = ReadProbe(self.history, self._primary_endpoint, **kw)  # type: ignore[arg-type]
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
        """The primary changed: tell the clients that do not ask each time (the background load)."""
        load = self.load
        if load is not None:
            load.point_at_primary()

    def require_load_after(self, *, max_error_rate: float | None = None, percentile: int = 99,
                           max_latency_s: float | None = None) -> LoadPhase:
        load = self.load
        if load is None:
            raise SetupError('no background load is running (Given a "mixed" load of N users ...)')
        self.end_window()
        load.stop()
        phases = {p.phase: p for p in load_phases(self.history.events())}
        after = phases.get("after") or phases.get("before")
        if after is None or not after.requests:
            raise TargetMissed("load after recovery", "no requests were made after recovery", "some")
        if max_error_rate is not None and (after.error_rate or 0) >= max_error_rate:
            raise TargetMissed("load error rate after recovery", f"{(after.error_rate or 0) * 100:.2f} %",
                               f"< {max_error_rate * 100:g} %")
        if max_latency_s is not None:
            value = {50: after.p50_ms, 95: after.p95_ms, 99: after.p99_ms}.get(percentile)
            if value is None:
                raise SetupError(f"p{percentile} is not reported: use p50, p95 or p99")
            if value / 1000 >= max_latency_s:
                raise TargetMissed(f"p{percentile} load latency after recovery", f"{value:.1f} ms",
                                   f"< {max_latency_s * 1000:g} ms")
        return after

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
            self.check_steady_state("before the fault")

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

    def check_steady_state(self, when: str) -> SteadyReading:
        """The hypothesis over the last ``window_s`` of writes; raises when it does not hold."""
        if self.steady is None:
            raise SetupError("no steady state was declared (Given the steady state is ...)")
        t = now().t
        r = reading(self.history.events(), self.steady, start=t - self.steady.window_s, end=t)
        self.history.note(f"steady_state.{when}", r.reason)
        if not r.holds:
            raise TargetMissed(f"steady state {when}", r.reason, "holds")
        return r

    def expect_steady_again(self, timeout: float) -> SteadyReading:
        if self.steady is None:
            raise SetupError("no steady state was declared (Given the steady state is ...)")
        state = self.steady
        since = now().t

        def holds() -> SteadyReading | None:
            t = now().t
            # Only attempts made since we started waiting count: "again" means after the fault.
            r = reading(self.history.events(), state, start=max(since, t - state.window_s), end=t)
            return r if r.holds and r.attempts >= 5 else None

        try:
            r = wait_until(holds, timeout=timeout, interval=0.2, what="the steady state to hold again")
        except WaitTimeout as exc:
            t = now().t
            last = reading(self.history.events(), state, start=max(since, t - state.window_s), end=t)
            raise TargetMissed("steady state after recovery", f"{last.reason} after {timeout:g} s",
                               "holds again") from exc
        self.history.note("steady_state.again", r.reason)
        return r

    def require_fault_latency(self, percentile: int, limit_s: float) -> float:
        """The write latency percentile over attempts made while a fault was active."""
        faults = self.history.of(FaultEvent)
        injected = [f for f in faults if f.phase == "inject"]
        if not injected:
            raise SetupError("no fault was injected: there is no 'during the fault'")
        start = (injected[0].began or injected[0].at).t
        heals = [f for f in faults if f.phase == "heal" and f.at.t >= start]
        end = heals[-1].at.t if heals and not self.faults.active else now().t
        ops = [o for o in self.history.of(ProbeOp) if o.probe == "write" and start <= o.at.t <= end]
        if not ops:
            raise TargetMissed(f"p{percentile} write latency during the fault", "no write attempts", f"< {limit_s:g} s")
        # A failed or timed-out write counts with the time it took: the user waited that long.
        lat = sorted(o.end.t - o.at.t for o in ops)
        value = lat[min(len(lat) - 1, max(0, int(round(percentile / 100 * len(lat))) - 1))]
        self.history.note("latency_during_fault", f"p{percentile} {value * 1000:.1f} ms over {len(ops)} writes")
        if value >= limit_s:
            raise TargetMissed(f"p{percentile} write latency during the fault", f"{value:.3f} s over {len(ops)} writes",
                               f"< {limit_s:g} s")
        return value

    # -- alerts (Then) -------------------------------------------------------------------------

    def _alerts(self, phase: str) -> list[AlertEvent]:
        return [a for a in self.history.of(AlertEvent) if a.phase == phase]

    def _require_monitor(self) -> Monitor:
        if self.monitor is None:
            raise SetupError("no monitor is running: start the probes (Given the write probe is running) "
                             "with monitor.enabled in the environment")
        return self.monitor

    def expect_alert(self, name: str, timeout: float, severity: str | None = None) -> AlertEvent:
        """Wait for alert ``name`` to fire after the first fault (or at all, with no fault)."""
        self._require_monitor()
        since = self._fault_began()

        def fired() -> AlertEvent | None:
            for a in self._alerts("firing"):
                if a.alert.lower() == name.lower() and a.at.t >= since and (severity is None or a.severity == severity):
                    return a
            return None

        try:
            return wait_until(fired, timeout=timeout, interval=0.1, what=f"alert {name!r} to fire")
        except WaitTimeout as exc:
            seen = sorted({f"{a.severity} {a.alert!r} on {a.node}" for a in self._alerts("firing")})
            raise TargetMissed(f"alert {name!r}", f"did not fire within {timeout:g} s (fired: {seen or 'none'})",
                               f"fires within {timeout:g} s") from exc

    def maintenance_window(self, minutes: float) -> None:
        """An announced maintenance window: an info alert on every node, as an operator would raise."""
        self._require_monitor()
        for name in self.cluster.names:
            self.history.add(AlertEvent(at=now(), alert="maintenance window", severity="info", node=name,
                                        phase="firing", detail=f"{minutes:g} min announced"))

    def change_setting(self, role: str, name: str, value: str) -> None:
        target = self.target(role)
        addr = self.cluster.address(target)
        sql(addr, f"ALTER SYSTEM SET {psql_ident(name)} = %s" % psql_quote(value))
        sql(addr, "SELECT pg_reload_conf()")
        self.history.note("config.change", f"{target}: {name} = {value}")

    def expect_no_alert(self, severity: str) -> None:
        self._require_monitor()
        fired = [a for a in self._alerts("firing") if a.severity == severity]
        if fired:
            first = fired[0]
            raise TargetMissed(f"{severity} alerts", f"{len(fired)} fired, first {first.alert!r} on {first.node}",
                               "none")

    def expect_resolved(self, name: str, timeout: float) -> None:
        monitor = self._require_monitor()

        def clear() -> bool:
            return not any(rule.lower() == name.lower() for rule, _ in monitor.engine.firing)

        try:
            wait_until(clear, timeout=timeout, interval=0.1, what=f"alert {name!r} to resolve")
        except WaitTimeout as exc:
            raise TargetMissed(f"alert {name!r}", f"still firing after {timeout:g} s", "resolved") from exc

    def require_detection(self, limit_s: float) -> float:
        self._require_monitor()
        result = detection(self.history)
        self.history.note("detection", result.reason)
        value = result.value_s
        if value is None or value >= limit_s:
            got = "nothing detected it" if value is None else f"{value:.3f} s ({result.reason})"
            raise TargetMissed("detection time", got, f"< {limit_s:g} s")
        return value

    def _fault_began(self) -> float:
        faults = [f for f in self.history.of(FaultEvent) if f.phase == "inject"]
        return (faults[0].began or faults[0].at).t if faults else 0.0

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
            self._measurements = measure(self.history, self.env.probe.interval_ms / 1000)
        return self._measurements

    def require(self, **target: Any) -> Measurements:
        """Tighten the scenario's targets and check them; raise TargetMissed with the number."""
        self.targets = self.targets.with_(**target)
        self.asserted.update(target)
        m = self.measurements()
        wanted = {_BOUND[k] for k in target}
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
