"""Fault schedules: a fault repeated N times with a period, a seeded random schedule, and the
final phase that heals everything and waits for the cluster to converge.

Planning is pure (:func:`plan_cycles`, :func:`plan_random`: same inputs, same plan) and the
whole plan goes into the journal as a ``schedule.plan`` note before anything runs, so a run
can be replayed from its journal (:func:`recorded_schedules`). Running a plan
(:func:`run_schedule`) is a bounded loop over its items: each item is a *cycle* that injects
one fault, holds it, drives the recovery (failover and rejoin for a lost primary, restart
for a lost replica, thaw for a freeze) and waits until the cluster is whole again before the
next one. Periods are start to start; a cycle that overruns delays the next (noted).

Per-cycle recovery numbers come from the history (:func:`cycle_recoveries`), using the same
RTO checker as the single-fault drills on each cycle's slice of the history.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.checkers.rto import rto
from harness.errors import SetupError, TargetMissed
from harness.faults.base import Fault
from harness.faults.freeze import PauseNode, SigstopProcesses
from harness.faults.process import KillNode, StopPostgres
from harness.history import ActionEvent, Event, FaultEvent, Note, ProbeOp, RepetitionMark, now
from harness.units import parse_duration

if TYPE_CHECKING:
    from harness.drill import Drill

__all__ = [
    "DEFAULT_MENU",
    "Action",
    "CycleRecovery",
    "PlannedFault",
    "Schedule",
    "converge",
    "cycle_recoveries",
    "heal_and_converge",
    "parse_action",
    "plan_cycles",
    "plan_random",
    "recorded_schedules",
    "run_schedule",
]

ActionKind = Literal["kill", "stop", "pause", "sigstop"]
PLAN_NOTE = "schedule.plan"
CYCLE_SERIES = "schedule"  # the RepetitionMark series of a fault schedule's cycles
END_NOTE = "schedule.end"

# How long a downed replica stays down before the cycle restarts it, unless the phrase says.
DEFAULT_REPLICA_DOWN_S = 2.0
# Upper bounds, so a schedule is bounded in count as well as in time.
MAX_ITEMS = 1000
MAX_DURATION_S = 24 * 3600.0


class Action(BaseModel):
    """One known fault phrase: what to do, to whom (a role, resolved when it runs), how long."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: ActionKind
    role: str  # "the primary", "a replica", "replica 2"
    hold_s: float = Field(default=0.0, ge=0)  # freeze length, or time a downed node stays down

    @property
    def phrase(self) -> str:
        verb = {"kill": "kill", "stop": "stop", "pause": "pause", "sigstop": "freeze PostgreSQL on"}[self.kind]
        # Written so that parse_action(action.phrase) == action (the journal reads as steps do).
        return f"{verb} {self.role}" + (f" for {self.hold_s:g} seconds" if self.hold_s else "")

    @property
    def on_primary(self) -> bool:
        return self.role == "the primary"

    def budget_s(self) -> float:
        """Hold plus a generous allowance for injection and recovery on a small, busy machine."""
        if self.kind in ("kill", "stop"):
            return self.hold_s + (10.0 if self.on_primary else 5.0)
        return self.hold_s + 3.0


_ROLE = r"the primary|a replica|replica \d+"
_ACTION = re.compile(
    rf"^(?P<verb>kill|crash|stop|pause|freeze postgresql on|freeze)\s+(?P<role>{_ROLE})"
    r"(?:\s+for\s+(?P<hold>\d+(?:\.\d+)?\s*[a-z]+))?$"
)
KNOWN_ACTIONS = (
    "kill the primary", "stop the primary", "kill a replica", "stop a replica", "kill replica N",
    "pause the primary for N seconds", "pause a replica for N seconds",
    "freeze PostgreSQL on the primary for N seconds", "stop a replica for N seconds",
)


def parse_action(text: str) -> Action:
    """A fault phrase as written in a step ("kill the primary", "pause the primary for 5 seconds")."""
    m = _ACTION.fullmatch(" ".join(text.strip().lower().split()))
    if not m:
        raise SetupError(f"unknown fault {text!r} in a schedule: say one of {', '.join(KNOWN_ACTIONS)}")
    verb = m.group("verb")
    kind: ActionKind = {"kill": "kill", "crash": "kill", "stop": "stop", "pause": "pause", "freeze": "pause",
                        "freeze postgresql on": "sigstop"}[verb]  # type: ignore[assignment]
    role = m.group("role")
    hold = parse_duration(m.group("hold")) if m.group("hold") else None
    if kind in ("pause", "sigstop") and hold is None:
        raise SetupError(f"{text!r}: a freeze in a schedule needs a length (\"{verb} {role} for 5 seconds\")")
    if hold is None:
        hold = 0.0 if role == "the primary" else DEFAULT_REPLICA_DOWN_S
    return Action(kind=kind, role=role, hold_s=hold)


class PlannedFault(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    index: int  # 1-based
    at_s: float = Field(ge=0)  # start offset from the schedule's start
    action: Action


class Schedule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["cycles", "random"]
    seed: int | None = None
    duration_s: float = Field(gt=0)  # every item's start plus its budget fits in it
    items: tuple[PlannedFault, ...]

    def describe(self) -> str:
        head = f"{self.kind} schedule" + (f" (seed {self.seed})" if self.seed is not None else "")
        lines = [f"{head}: {len(self.items)} faults in {self.duration_s:g} s"]
        lines += [f"  {p.index:>3}  t+{p.at_s:6.1f} s  {p.action.phrase}" for p in self.items]
        return "\n".join(lines)


def plan_cycles(action: Action, cycles: int, period_s: float) -> Schedule:
    """``cycles`` repetitions of ``action``, starting every ``period_s`` (start to start)."""
    if not 1 <= cycles <= MAX_ITEMS:
        raise SetupError(f"cycles must be between 1 and {MAX_ITEMS}, not {cycles}")
    if period_s <= 0 or cycles * period_s > MAX_DURATION_S:
        raise SetupError(f"a period of {period_s:g} s for {cycles} cycles is out of bounds")
    if action.hold_s >= period_s:
        raise SetupError(f"{action.phrase!r} lasts {action.hold_s:g} s: it does not fit a period of {period_s:g} s")
    items = tuple(PlannedFault(index=i + 1, at_s=i * period_s, action=action) for i in range(cycles))
    return Schedule(kind="cycles", duration_s=cycles * period_s, items=items)


#: The faults a random schedule draws from ("a replica" becomes "replica N" at planning time).
DEFAULT_MENU: tuple[tuple[ActionKind, str], ...] = (
    ("kill", "the primary"),
    ("pause", "the primary"),
    ("sigstop", "the primary"),
    ("kill", "a replica"),
    ("stop", "a replica"),
    ("pause", "a replica"),
)


def plan_random(
    seed: int,
    duration_s: float,
    *,
    replicas: int,
    menu: Sequence[tuple[ActionKind, str]] = DEFAULT_MENU,
    min_gap_s: float = 2.0,
    max_gap_s: float = 8.0,
    min_hold_s: float = 1.0,
    max_hold_s: float = 6.0,
    max_faults: int = 20,
) -> Schedule:
    """A random but reproducible schedule: the same arguments always give the same plan.

    Faults run one at a time: each item's window (start plus :meth:`Action.budget_s`) ends
    before the next item starts and before ``duration_s``; at most ``max_faults`` items.
    """
    if not 0 < duration_s <= MAX_DURATION_S:
        raise SetupError(f"a schedule must last between 0 and {MAX_DURATION_S:g} s, not {duration_s:g}")
    if not 0 <= min_gap_s <= max_gap_s or not 0 < min_hold_s <= max_hold_s or not 1 <= max_faults <= MAX_ITEMS:
        raise SetupError("bad schedule bounds (gaps, holds or fault count)")
    choices = [(k, r) for k, r in menu if r == "the primary" or replicas > 0]
    if not choices:
        raise SetupError("nothing in the fault menu applies to this topology")
    rng = random.Random(seed)
    items: list[PlannedFault] = []
    t = round(rng.uniform(0, min_gap_s), 1)
    for _ in range(max_faults):  # bounded: one fault per turn
        kind, role = rng.choice(choices)
        if role == "a replica":
            role = f"replica {rng.randint(1, replicas)}"
        if kind in ("pause", "sigstop"):
            hold = round(rng.uniform(min_hold_s, max_hold_s) * 2) / 2  # half seconds read well
        else:
            hold = 0.0 if role == "the primary" else DEFAULT_REPLICA_DOWN_S
        action = Action(kind=kind, role=role, hold_s=hold)
        if t + action.budget_s() > duration_s:
            break
        items.append(PlannedFault(index=len(items) + 1, at_s=t, action=action))
        t = round(t + action.budget_s() + rng.uniform(min_gap_s, max_gap_s), 1)
    return Schedule(kind="random", seed=seed, duration_s=duration_s, items=tuple(items))


def recorded_schedules(events: Iterable[Event]) -> list[Schedule]:
    """The plans a run wrote into its journal, in order (to replay a run)."""
    return [Schedule.model_validate_json(e.detail) for e in events if isinstance(e, Note) and e.name == PLAN_NOTE]


# -- running -----------------------------------------------------------------------------------


def converge(drill: Drill, *, timeout: float = 60) -> str:
    """Bring downed nodes back and wait for one primary with every replica streaming."""
    c = drill.cluster
    t0 = now()
    back = []
    for name in sorted(c.roles.down):  # bounded: each node once
        back.append(f"{name}: {drill.restart(name)}")
    # A primary frozen through a failover and thawed since is a zombie that still takes writes:
    # it rejoins as a replica like any deposed primary.
    for name in [n for n in c.writable_nodes() if n != c.primary]:
        if c.roles.old_primary != name:
            drill.deposed(name)  # Drill.restart rejoins (pg_rewind) only the deposed primary
        back.append(f"{name} (writable, not the primary): {drill.restart(name)}")
    try:
        primary = c.wait_one_primary(timeout)
        if primary != c.primary:
            raise TargetMissed("primary", f"{primary} accepts writes, but the harness made {c.primary} primary",
                               c.primary)
        c.wait_streaming(timeout=timeout, expect=c.replicas())
    except Exception as exc:
        drill.history.add(ActionEvent(at=t0, end=now(), action="converge", target=c.primary, outcome="failed",
                                      detail=str(exc)[:500]))
        raise
    detail = f"primary {c.primary}, streaming: {', '.join(c.replicas())}"
    if back:
        detail += "; brought back " + "; ".join(back)
    drill.history.add(ActionEvent(at=t0, end=now(), action="converge", target=c.primary, outcome="ok",
                                  detail=detail))
    return detail


def heal_and_converge(drill: Drill, *, timeout: float = 60) -> str:
    """The final phase: heal every active fault, then :func:`converge`."""
    problems = drill.faults.heal_all()
    detail = converge(drill, timeout=timeout)
    if problems:
        raise SetupError("healing failed: " + "; ".join(problems))
    return detail


def _hold(drill: Drill, seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)


def _run_item(drill: Drill, item: PlannedFault) -> str:
    c = drill.cluster
    a = item.action
    node = drill.target(a.role)
    was_primary = node == c.primary
    if a.kind in ("kill", "stop"):
        fault: Fault = KillNode(c, node) if a.kind == "kill" else StopPostgres(c, node)
        drill.apply(fault, takes_down=True)
        _hold(drill, a.hold_s)
        if was_primary:
            new = drill.failover()
            how = drill.restart(node)
            return f"{a.kind} {node} (primary); failed over to {new}; {node} rejoined: {how}"
        how = drill.restart(node)
        return f"{a.kind} {node}; restarted after {a.hold_s:g} s: {how}"
    freeze: Fault = PauseNode(c, node) if a.kind == "pause" else SigstopProcesses(c, node)
    drill.apply(freeze)
    _hold(drill, a.hold_s)
    drill.faults.heal(freeze)
    return f"{a.kind} {node}{' (primary)' if was_primary else ''} for {a.hold_s:g} s, thawed"


def run_schedule(drill: Drill, schedule: Schedule, *, grace_s: float = 60, converge_timeout: float = 45) -> list[str]:
    """Run every item of the plan in order; returns one line per cycle.

    The plan is in the journal before the first fault. A cycle that fails (no recovery) is
    recorded and re-raised: the remaining items do not run on a broken cluster. Items that
    would start after ``duration_s + grace_s`` are skipped and noted.
    """
    drill.history.note(PLAN_NOTE, schedule.model_dump_json())
    cluster = drill.cluster  # started before the clock does
    t0 = time.monotonic()
    deadline = t0 + schedule.duration_s + grace_s
    lines: list[str] = []
    n = len(schedule.items)
    for item in schedule.items:
        start = t0 + item.at_s
        if start > deadline or time.monotonic() > deadline:
            drill.history.note("schedule.skipped", f"{n - item.index + 1} faults from #{item.index}: past the bound")
            break
        time.sleep(max(0.0, start - time.monotonic()))
        late = time.monotonic() - start
        drill.history.add(RepetitionMark(at=now(), series=CYCLE_SERIES, index=item.index, of=n,
                                         action=item.action.phrase, late_s=round(late, 3)))
        s0 = now()
        try:
            detail = _run_item(drill, item)
            cluster.wait_streaming(timeout=converge_timeout, expect=[r for r in cluster.replicas()
                                                                     if r not in cluster.roles.down])
        except Exception as exc:
            drill.history.add(ActionEvent(at=s0, end=now(), action="schedule.cycle", target=str(item.index),
                                          outcome="failed", detail=f"{item.action.phrase}: {exc}"[:800]))
            drill.history.note(END_NOTE, f"stopped at cycle {item.index} of {n}")
            raise
        line = f"cycle {item.index}/{n} ({item.action.phrase}): {detail}"
        drill.history.add(ActionEvent(at=s0, end=now(), action="schedule.cycle", target=str(item.index),
                                      outcome="ok", detail=line))
        lines.append(line)
    drill.history.note(END_NOTE, f"{len(lines)} of {n} cycles ran")
    return lines


# -- per-cycle numbers -------------------------------------------------------------------------


class CycleRecovery(BaseModel):
    model_config = ConfigDict(frozen=True)
    index: int
    action: str
    outcome: Literal["ok", "failed", "unknown"]  # the cycle's own recovery (harness side)
    write_rto_s: float | None  # writes back, from this cycle's fault (None: not measured or never)
    reason: str


def _slice_ends(evs: list[Event]) -> list[tuple[RepetitionMark, float]]:
    """Each cycle note with the end of its slice (monotonic time).

    A cycle runs to the next cycle's note. The last cycle of a schedule runs past the
    schedule's end (writes come back after the cycle's own work is done) up to the next fault
    injected after it, or the end of the history.
    """
    cycles = [e for e in evs if isinstance(e, RepetitionMark) and e.series == CYCLE_SERIES]
    ends = [e for e in evs if isinstance(e, Note) and e.name == END_NOTE]
    injects = [e for e in evs if isinstance(e, FaultEvent) and e.phase == "inject"]
    out: list[tuple[RepetitionMark, float]] = []
    for k, mark in enumerate(cycles):
        nxt = cycles[k + 1].at.t if k + 1 < len(cycles) else float("inf")
        end = next((e.at.t for e in ends if e.at.t >= mark.at.t), None)
        if end is not None and end < nxt:
            nxt = min(nxt, next((f.at.t for f in injects if f.at.t > end), float("inf")))
        out.append((mark, nxt))
    return out


def cycle_recoveries(events: Iterable[Event]) -> list[CycleRecovery]:
    """Each cycle's write recovery, from its fault to writes that kept succeeding in its slice.

    The single-fault RTO checker applies unchanged to a cycle's slice of the history (see
    :func:`_slice_ends`): its first injection is this cycle's fault, and probe attempts
    belong to the slice they ended in.
    """
    evs = list(events)
    out: list[CycleRecovery] = []
    for mark, t_hi in _slice_ends(evs):
        t_lo = mark.at.t
        part: list[Event] = []
        for e in evs:
            t = e.end.t if isinstance(e, ProbeOp) else e.at.t
            if t_lo <= t < t_hi and not (isinstance(e, Note) and e.name == "window_start"):
                part.append(e)
        own = [e for e in part if isinstance(e, ActionEvent) and e.action == "schedule.cycle"]
        outcome: Literal["ok", "failed", "unknown"] = own[0].outcome if own else "unknown"
        has_writes = any(isinstance(e, ProbeOp) and e.probe == "write" for e in part)
        has_fault = any(isinstance(e, FaultEvent) and e.phase == "inject" for e in part)
        if not has_writes or not has_fault:
            why = "no write probe ran" if not has_writes else "no fault took effect"
            out.append(CycleRecovery(index=mark.index, action=mark.action, outcome=outcome,
                                     write_rto_s=None, reason=why))
            continue
        r = rto(part, "write")
        out.append(CycleRecovery(index=mark.index, action=mark.action, outcome=outcome,
                                 write_rto_s=r.value_s, reason=r.reason))
    return out
