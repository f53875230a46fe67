"""One scenario's drill: topology, probes, faults and recovery over one history.

The drill is the context the steps delegate to. It starts the topology lazily (so Given
steps compose in any order before it exists), ends the measurement window when a Then
step first asks for a number, and on ``close`` heals every fault, stops the probes, removes
everything it made and writes the journal, whatever happened before.
"""

from __future__ import annotations

import json
import os
import logging
import re
import time
from pathlib import Path
from typing import Any

from harness.checkers import Measurements, Targets, Violation, evaluate, measure
from harness.environment import Environment, default_environment
from harness.errors import HarnessError, SetupError, TargetMissed, WaitTimeout
from harness.faults import Fault, FaultSet, KillNode, KillPostmaster, StopPostgres
from harness.faults.toxiproxy import ToxiproxyServer
from harness.checkers.detection import detection
from harness.checkers.load import LoadPhase, load_phases
from harness.checkers.steady import SteadyReading, SteadyState, reading
from harness.gameday.guards import AbortCondition, Guard
from harness.history import (
    ActionEvent,
    AlertEvent,
    FaultEvent,
    FinalRead,
    History,
    ProbeOp,
    now,
    seq_ranges,
)
from harness.recovery import failover_to_most_advanced, rejoin_as_replica
from harness.runtime.docker import DockerRuntime
from harness.runtime.preflight import check_host_disk
from harness.secrets import redact
from harness.topology.pg import sql


def psql_ident(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_.]*", name):
        raise SetupError(f"not a setting name: {name!r}")
    return name


def psql_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
from harness.monitor import Monitor, load_rules
from harness.clients.part import ClientsPart
from harness.environment import ClientsSection
from harness.topology.streaming import StreamingCluster
from harness.wait import wait_until
from harness.workload import ReadProbe, WriteProbe
from harness.workload.load import LoadProcess, create_schema

__all__ = ["Drill", "ScenarioResult"]

log = logging.getLogger(__name__)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "scenario"


class ScenarioResult:
    """What summary.json says of one scenario."""

    def __init__(self, feature: str, scenario: str, directory: Path) -> None:
        self.feature = feature
        self.scenario = scenario
        self.directory = directory
        self.status = "error"
        self.message = ""
        self.measurements: Measurements | None = None
        self.targets: Targets | None = None
        self.violations: list[Violation] = []
        self.asserted: set[str] = set()
        self.topology = ""
        self.tags: list[str] = []
        self.load_phases: list[LoadPhase] = []

    def to_json(self) -> dict[str, Any]:
        m = self.measurements.model_dump() if self.measurements else {}
        return {
            "feature": self.feature,
            "scenario": self.scenario,
            "status": self.status,
            "message": self.message,
            "tags": self.tags,
            "load": [p.model_dump() for p in self.load_phases],
            "topology": self.topology,
            "measurements": m,
            "targets": self.targets.model_dump() if self.targets else {},
            "asserted": sorted(self.asserted),
            "violations": [v.model_dump() for v in self.violations],
            "journal": str(self.directory / "journal.jsonl"),
        }


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
        self._runtime: DockerRuntime | None = None
        self._cluster: StreamingCluster | None = None
        self.monitor: Monitor | None = None
        self.load: LoadProcess | None = None
        self.runbook_answers: list[str] = []  # scripted answers to manual runbook steps (CI)
        self.client_routes: dict[str, str] = {}  # node → "address:port" the clients use instead
        self.toxiproxy: ToxiproxyServer | None = None
        self.steady: SteadyState | None = None
        self.abort_conditions: list[AbortCondition] = []
        self.guard: Guard | None = None
        self.write_probe: WriteProbe | None = None
        self.read_probe: ReadProbe | None = None
        self.clients: ClientsPart | None = None  # the client path (harness.clients), made with the probes
        self._clients_settings: ClientsSection | None = None  # set by a step; else the environment's
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
            self._close_clients()
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

    def set_probe_interval(self, seconds: float) -> None:
        probe = self.env.probe.model_copy(update={"interval_ms": seconds * 1000})
        self.env = self.env.model_copy(update={"probe": probe})

    @property
    def cluster(self) -> StreamingCluster:
        """The live topology, started on first use."""
        if self._cluster is None or not self._cluster.started:
            if self._runtime is None:
                check_host_disk([Path("/var/lib/docker"), self.directory])
                self._runtime = DockerRuntime(self.run_id, self.scope)
            self._cluster = self._new_topology()  # issue 4: streaming, or Patroni after use_patroni()
            self._cluster.start()
            if self.env.auth is not None:
                self._require_password(self.env.auth.password_env)
        return self._cluster

    @property
    def topology_started(self) -> bool:
        return self._cluster is not None and self._cluster.started

    # -- workload ----------------------------------------------------------------------------

    def _primary_endpoint(self) -> tuple[str, str] | None:
        c = self._cluster
        if c is None:
            return None
        try:
            # Clients may reach a node through something in front of it (a Toxiproxy proxy).
            return c.primary, self.client_routes.get(c.primary) or c.address(c.primary)
        except Exception:  # noqa: BLE001 - a node that is down has no address; the attempt fails
            return None

    def start_probes(self, interval_s: float | None = None, *, reads: bool = True) -> None:
        if interval_s is not None:
            self.set_probe_interval(interval_s)
        cluster = self.cluster
        p = self.env.probe
        kw = dict(table=p.table, interval_s=p.interval_ms / 1000, timeout_s=p.timeout_ms / 1000,
                  max_duration_s=p.max_duration_s)
        clients = self.client_part()  # before the window: the path's start is no outage
        if not self._window_open:
            self.history.note("window_start", f"probe every {p.interval_ms:g} ms on {cluster.describe()}")
            self._window_open = True
        if self.monitor is None and self.env.monitor.enabled:
            self.monitor = Monitor(cluster, self.history, load_rules(), interval_s=self.env.monitor.interval_s,
                                   timeout_s=self.env.monitor.timeout_s, max_duration_s=p.max_duration_s,
                                   disk_usage=cluster.disk_usage)
            self.monitor.start()
        if self.guard is None and self.abort_conditions:
            self.guard = Guard(self.history, self.abort_conditions, interval_s=p.interval_ms / 1000,
                               max_duration_s=p.max_duration_s)
            self.guard.start()
        if self.write_probe is None:  # through the client path (None: direct, the ideal)
            if clients is not None:
                self.write_probe, path_read = clients.probes(kw, reads=reads)
                self.read_probe = self.read_probe or path_read
            else:
                self.write_probe = WriteProbe(self.history, self._primary_endpoint, **kw)  # type: ignore[arg-type]
            self.write_probe.start()
            if self.read_probe is not None and not self.read_probe.running:
                self.read_probe.start()
        if reads and self.read_probe is None:
            self.read_probe = ReadProbe(self.history, self._primary_endpoint, **kw)  # type: ignore[arg-type]
            self.read_probe.start()
        if clients is not None:
            clients.start_beside(self._primary_endpoint, kw, reads=reads)
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
            if self.clients is not None and self.clients.real:  # the client path's service address
                return self.clients.load_conninfo()
            ep = self._primary_endpoint()
            return ep[1] if ep else None

        self.client_part()

        self.load = LoadProcess(self.history, self.directory, endpoint, profile=profile, users=users,
                                ramp_s=ramp_s, max_duration_s=self.env.probe.max_duration_s)
        self.load.start()
        t0 = now()
        self.history.note("load.start", f"{profile}: {users} users over {ramp_s:g} s")
        time.sleep(ramp_s)
        if not self.load.users_running():
            raise SetupError(f"the load process exited: {(self.directory / 'load.log').read_text()[-1500:]}")
        self.history.add(ActionEvent(at=t0, end=now(), action="load.ramp_up", target=profile, outcome="ok",
                                     detail=f"{users} users"))

    def require_load_after(self, *, max_error_rate: float | None = None, percentile: int = 99,
                           max_latency_s: float | None = None) -> LoadPhase:
        if self.load is None:
            raise SetupError('no background load is running (Given a "mixed" load of N users ...)')
        self.end_window()
        self.load.stop()
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
        if self.clients is not None:
            self.clients.stop_probes()
        for probe in (self.write_probe, self.read_probe):
            if probe is not None:
                probe.stop()
                if probe.error is not None:
                    raise SetupError(f"the {probe.kind} probe crashed: {probe.error!r}")

    # -- faults and recovery (When) ----------------------------------------------------------

    def target(self, role: str) -> str:
        """A role as written in a step, resolved against the live topology now."""
        return self.cluster.resolve(role)

    def apply(self, fault: Fault, *, takes_down: bool = False) -> Fault:
        """Inject a constructed fault (healed on close if it is not one-shot)."""
        cluster = self.cluster
        self._before_first_fault()
        if takes_down and fault.target == cluster.primary:
            cluster.old_primary = fault.target
        self.faults.inject(fault)
        if takes_down:
            cluster.down.add(fault.target)
        return fault

    def heal_all(self) -> list[str]:
        return self.faults.heal_all()

    def route_clients_through_toxiproxy(self) -> ToxiproxyServer:
        """Start a Toxiproxy server on loopback and send the probes to every node through it."""
        if self.toxiproxy is None:
            server = ToxiproxyServer().start()
            self.toxiproxy = server
            for name in self.cluster.names:
                self.client_routes[name] = server.front(name, f"{self.cluster.address(name)}:5432")
            self.history.note("toxiproxy", f"clients go through Toxiproxy: {self.client_routes}")
        return self.toxiproxy

    def _before_first_fault(self) -> None:
        # The hypothesis is checked once, right before the first fault: a drill on a system
        # that is already unhealthy measures nothing useful.
        if self.steady is not None and not self.history.of(FaultEvent):
            self.check_steady_state("before the fault")

    def inject(self, fault_name: str, role: str) -> Fault:
        cluster = self.cluster
        self._before_first_fault()
        target = cluster.resolve(role)
        fault: Fault
        if fault_name == "kill":
            fault = KillNode(cluster, target)
        elif fault_name == "kill-postmaster":
            fault = KillPostmaster(cluster, target)
        elif fault_name == "stop":
            fault = StopPostgres(cluster, target)
        else:
            raise SetupError(f"unknown fault {fault_name!r}")
        if target == cluster.primary:
            cluster.old_primary = target
        self.faults.inject(fault)
        cluster.down.add(target)
        return fault

    def restart(self, role: str) -> str:
        """Boot a node again; a deposed primary comes back as a replica of the new one."""
        cluster = self.cluster
        target = cluster.resolve(role)
        t0 = now()
        if target != cluster.primary and self._was_primary_since_failover(target):
            how = rejoin_as_replica(cluster, target)
        else:
            cluster.start_postgres(target)
            cluster.wait_ready(target)
            how = "started"
            self.history.add(ActionEvent(at=t0, end=now(), action="restart", target=target, outcome="ok", detail=how))
        cluster.down.discard(target)
        self.history.add(FaultEvent(at=now(), fault="restart", target=target, phase="heal", detail=how))
        return how

    def _was_primary_since_failover(self, name: str) -> bool:
        c = self.cluster
        return c.old_primary == name

    def failover(self) -> str:
        load = self.load
        new = failover_to_most_advanced(self.cluster,
                                        on_promoted=(lambda _: load.point_at_primary()) if load is not None else None)
        if self.load is not None:
            # Tell the load's clients at once, as the probes learn it: they share one service address.
            self.load.point_at_primary()
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
        want = [n for n in c.replicas() if n not in c.down]
        t0 = now()
        try:
            c.wait_streaming(timeout=timeout, expect=want)
        except WaitTimeout as exc:
            self.history.add(ActionEvent(at=t0, end=now(), action="expect.streaming", outcome="failed",
                                         detail=str(exc)))
            raise TargetMissed("streaming replicas", str(exc), f"{', '.join(want)} streaming within {timeout:g} s") from exc
        skipped = f" (down: {', '.join(sorted(c.down))})" if c.down else ""
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
        self._fanout_final_read()  # issue 4: what the survivor holds of the fan-out writes
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
            self._measurements = self._measure_paths()
        return self._measurements

    def require(self, **target: Any) -> Measurements:
        """Tighten the scenario's targets and check them; raise TargetMissed with the number."""
        self.targets = self.targets.with_(**target)
        self.asserted.update(target)
        m = self.measurements()
        names = {"max_rto_write_s": "rto_write_s", "max_rto_read_s": "rto_read_s", "max_rpo_s": "rpo_window_s",
                 "max_lost_writes": "rpo_lost_writes", "min_availability": "availability"}
        wanted = {names[k] for k in target}
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
        """Heal, stop, measure if anything ran, remove everything. Returns problems met."""
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
        for probe in (self.write_probe, self.read_probe, getattr(self, "fanout_probe", None),  # fanout: issue 4
                      getattr(self._cluster, "watch", None)):  # Patroni's view watcher (issue 4)
            if probe is not None:
                probe.stop()
        if self.monitor is not None:
            self.monitor.stop()
        if self.load is not None:
            self.load.stop()
        if self.toxiproxy is not None:
            self.toxiproxy.stop()
        problems += self._close_clients()
        if self._cluster is not None:
            self._save_logs()
            release = getattr(self._cluster, "release", None)  # issue 6: the WAN link's delayer
            if callable(release):
                problems += release()
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

        if not isinstance(self._cluster, StreamingCluster):
            raise SetupError("auth: a password is supported on the streaming topology only")
        require_password(self._cluster, password_from_environment(variable))
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

    # -- backups (issue 5) --

    def enable_backups(self, settings: dict[str, str]) -> None:
        """Start the topology with ``settings`` (archiving); a running one is replaced and its
        runtime removed, so that :meth:`use_runtime` can give one that mounts the repository."""
        self.configure(settings={**self.env.topology.settings, **settings})
        if self._runtime is not None:
            self._runtime.teardown()
            self._runtime = None

    def use_runtime(self, runtime: DockerRuntime) -> None:
        """The runtime the topology starts on (before it starts; e.g. harness.backup's)."""
        if self.topology_started:
            raise SetupError("the topology is already running on another runtime")
        self._runtime = runtime

    # -- patroni (issue 4) -------------------------------------------------------------------
    # Everything the Patroni topology adds to the drill lives in this block; the only change
    # elsewhere is Drill.cluster calling _new_topology() instead of StreamingCluster(...).

    def use_patroni(self, **settings: Any) -> None:
        """Make the lazily started topology Patroni + etcd; ``settings`` are PatroniSettings fields."""
        from dataclasses import replace

        from harness.topology.patroni import PatroniSettings

        if self.topology_started:
            raise SetupError("the Patroni Givens must come before the topology starts (probes, faults)")
        current: PatroniSettings | None = getattr(self, "_patroni", None)
        if current is None:  # the environment's patroni: section first, then the steps' changes
            current = PatroniSettings(**self.env.patroni.model_dump()) if self.env.patroni else PatroniSettings()
        self._patroni = replace(current, **settings)

    @property
    def patroni(self) -> Any:
        """The running PatroniCluster (starting it); a SetupError for any other topology."""
        from harness.topology.patroni import PatroniCluster

        cluster: Any = self.cluster
        if not isinstance(cluster, PatroniCluster):
            raise SetupError("this step needs a Patroni topology (Given a Patroni cluster with N nodes ...)")
        return cluster

    def _new_topology(self) -> StreamingCluster:
        from typing import cast

        from harness.topology.patroni import PatroniCluster

        assert self._runtime is not None
        if self.env.regions is not None:  # issue 6: two regions joined by a WAN link
            from harness.topology.regions import RegionCluster

            return RegionCluster(self._runtime, self.env, self.history)
        if getattr(self, "_patroni", None) is None and self.env.patroni is not None:
            self.use_patroni()  # an environment file with a patroni: section
        settings = getattr(self, "_patroni", None)
        if settings is None:
            return StreamingCluster(self._runtime, self.env, self.history)
        # PatroniCluster offers the part of StreamingCluster's interface that the drill, the
        # probes and the role-based faults use (names, primary, resolve, node, address, ...).
        return cast(StreamingCluster, PatroniCluster(self._runtime, self.env, self.history, settings))

    def start_fanout(self, timeout_s: float | None = None) -> None:
        """A write probe to EVERY node at once (split-brain evidence); stopped on close.

        ``timeout_s`` (default: the probe's) is how long a writer waits for an answer: a long
        one is a patient client whose write, sent to a frozen node, is answered on the thaw."""
        from harness.workload.fanout import FanoutWriteProbe

        if getattr(self, "fanout_probe", None) is not None:
            return
        cluster = self.cluster
        p = self.env.probe

        def address(name: str) -> str | None:
            try:
                return cluster.address(name)
            except Exception:  # noqa: BLE001 - a node that is down has no address
                return None

        self.fanout_probe = FanoutWriteProbe(self.history, list(cluster.names), address,
                                             interval_s=p.interval_ms / 1000,
                                             timeout_s=timeout_s if timeout_s is not None else p.timeout_ms / 1000,
                                             max_duration_s=p.max_duration_s)
        self.fanout_probe.start()

    def _fanout_final_read(self) -> None:
        """Stop the fan-out probe and note which of its rows the surviving primary holds."""
        from harness.checkers.splitbrain import fanout_final_read_note

        probe = getattr(self, "fanout_probe", None)
        if probe is None or self._cluster is None:
            return
        probe.stop()  # a write acknowledged after the read would look lost
        c = self._cluster
        try:
            survivor = c.primary
            rows = sql(c.address(survivor), "SELECT node, seq FROM probe_fanout", timeout=10)
        except Exception as exc:  # noqa: BLE001 - no read: rewound writes stay unknown, never 0
            self.history.note("fanout.final_read.failed", str(exc)[:300])
            return
        self.history.note(*fanout_final_read_note(survivor, ((str(r[0]), int(r[1])) for r in rows)))

    # -- the client path (harness.clients) ---------------------------------------------------
    # The probes and the load go through the path chosen in the environment (clients:) or by
    # a step; the direct probes run beside a real path. Everything else is in harness.clients.

    def use_client_path(self, path: str | None = None, **settings: Any) -> None:
        """Choose the client path (before the probes start); ``settings``: ClientsSection fields,
        or ``haproxy=``/``pgbouncer=`` dicts of their fields."""
        from harness.clients.part import default_clients
        from harness.environment import HaproxySettings, PgbouncerSettings

        if self.clients is not None:
            raise SetupError("the client path must be chosen before the probes start")
        current = self._clients_settings or self.env.clients
        if current is None:
            kind = "patroni" if getattr(self, "_patroni", None) is not None or self.env.patroni else "streaming"
            current = default_clients(kind)
        update: dict[str, Any] = dict(settings)
        if path is not None:
            update["path"] = path
        for key, model in (("haproxy", HaproxySettings), ("pgbouncer", PgbouncerSettings)):
            if key in update:
                update[key] = model.model_validate(getattr(current, key).model_dump() | update[key])
        self._clients_settings = current.model_validate(current.model_dump() | {
            k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in update.items()})

    def client_part(self) -> ClientsPart | None:
        """The running client path part, started on first use; None for the direct path."""
        from harness.clients.part import ClientsPart, default_clients

        if self.clients is None:
            cluster = self.cluster
            settings = self._clients_settings or self.env.clients or default_clients(getattr(cluster, "kind", ""))
            assert self._runtime is not None
            part = ClientsPart(settings, self._runtime, cluster, self.history, table=self.env.probe.table,
                               max_duration_s=self.env.probe.max_duration_s)
            try:
                part.start(lambda: self.monitor.engine if self.monitor is not None else None)
            except BaseException:
                part.close(self.directory)
                raise
            self.clients = part
            self.history.note("client_path.chosen", part.name)
        return self.clients if self.clients.real else None

    def _close_clients(self) -> list[str]:
        part, self.clients = self.clients, None
        return part.close(self.directory) if part is not None else []

    def _measure_paths(self) -> Measurements:
        from harness.checkers.paths import main_path_events, path_measures

        interval = self.env.probe.interval_ms / 1000
        main = self.clients.name if self.clients is not None else "direct"
        events = list(self.history.events())
        m = measure(main_path_events(events, main), interval)
        return m.model_copy(update={"client_path": main, "paths": path_measures(events, main, interval)})
