"""A client of the tests' own, beside the harness, and the drills whose outages it checks.

The independent client shares nothing with the harness's probe: its own connections (plain
blocking psycopg, one per worker thread, opened with its own connection string), its own
table, its own schedule (a write every 20 ms) and its own arithmetic for outages (a span
longer than 250 ms between two of its acknowledged writes that the survivor still holds).
Workers take ticks from a small queue: while one hangs on a frozen server, another takes
the next tick, so a thaw is seen within a tick whichever worker is served first.

The drills here are the known answers of ``test_known_answers.py`` and ``bench/known_answers.py``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from harness.checkers import Measurements
from harness.drill import Drill
from harness.faults.freeze import PauseNode
from harness.faults.network import CutFromReplicas, Delay

__all__ = ["CLIENT_EVERY_S", "DRILLS", "INTERVAL", "NEW_NODE", "SAME_NODE", "Agreement", "IndependentClient",
           "compare", "run_drill"]

INTERVAL = 0.05  # the harness's probe
CLIENT_EVERY_S = 0.02
THRESHOLD_S = 0.25
TABLE = "ka_client"


@dataclass
class IndependentClient:
    address: Callable[[], str]  # where the client sends its writes now
    workers: int = 4
    every_s: float = CLIENT_EVERY_S
    acks: list[tuple[int, float, float]] = field(default_factory=list)  # (id, sent, acknowledged)
    failures: int = 0

    def __post_init__(self) -> None:
        self._ticks: queue.Queue[int] = queue.Queue(maxsize=self.workers)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _connect(self, addr: str) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(f"host={addr} port=5432 user=postgres dbname=postgres connect_timeout=3",
                               autocommit=True)

    def start(self) -> None:
        with self._connect(self.address()) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigint PRIMARY KEY)")  # type: ignore[arg-type]
        self._threads = [threading.Thread(target=self._tick, daemon=True)]
        self._threads += [threading.Thread(target=self._work, daemon=True) for _ in range(self.workers)]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=3)

    def _tick(self) -> None:
        n, t0 = 0, time.monotonic()
        while not self._stop.is_set():
            n += 1
            try:
                self._ticks.put_nowait(n)
            except queue.Full:
                pass  # every worker is busy: this tick is skipped
            time.sleep(max(0.0, t0 + n * self.every_s - time.monotonic()))

    def _work(self) -> None:
        conn: psycopg.Connection[tuple[object, ...]] | None = None
        where = ""
        while not self._stop.is_set():
            try:
                n = self._ticks.get(timeout=0.1)
            except queue.Empty:
                continue
            addr = self.address()
            sent = time.monotonic()
            try:
                if conn is None or where != addr:
                    if conn is not None:
                        conn.close()
                    conn, where = self._connect(addr), addr
                conn.execute(f"INSERT INTO {TABLE} (id) VALUES (%s)", (n,))  # type: ignore[arg-type]
                with self._lock:
                    self.acks.append((n, sent, time.monotonic()))
            except psycopg.Error:
                self.failures += 1
                if conn is not None:
                    try:
                        conn.close()
                    except psycopg.Error:
                        pass
                conn = None

    def outages(self, survivor: str) -> list[tuple[float, float]]:
        """(start, end) of every span longer than 250 ms between surviving acknowledgements."""
        with self._connect(survivor) as conn:
            kept = {int(r[0]) for r in conn.execute(f"SELECT id FROM {TABLE}")}  # type: ignore[arg-type]
        times = sorted(ack for n, _, ack in self.acks if n in kept)
        return [(a, b) for a, b in zip(times, times[1:], strict=False) if b - a > THRESHOLD_S]

    def lost(self, survivor: str) -> int:
        with self._connect(survivor) as conn:
            kept = {int(r[0]) for r in conn.execute(f"SELECT id FROM {TABLE}")}  # type: ignore[arg-type]
        return sum(1 for n, _, _ in self.acks if n not in kept)


@dataclass(frozen=True)
class Agreement:
    drill: str
    tolerance_s: float  # how far the two sides' edges may lie apart in this drill
    measurements: Measurements
    harness: list[tuple[float, float]]  # the harness's write outages (start, end), monotonic
    client: list[tuple[float, float]]
    client_lost: int

    def worst_s(self, tolerance_s: float | None = None) -> float | None:
        """The largest difference in the start, end or length of an outage both sides saw;
        None when one side saw an outage the other did not. An outage shorter than the
        threshold plus ``tolerance_s`` may be one side's alone: the other may have seen the
        same stall just under the threshold."""
        tolerance_s = self.tolerance_s if tolerance_s is None else tolerance_s
        diffs = [0.0]
        for mine, theirs in ((self.harness, self.client), (self.client, self.harness)):
            for s, e in mine:
                twin = next(((a, b) for a, b in theirs if a < e and s < b), None)
                if twin is None:
                    if e - s > THRESHOLD_S + tolerance_s:
                        return None
                    continue
                diffs += [abs(s - twin[0]), abs(e - twin[1]), abs((e - s) - (twin[1] - twin[0]))]
        return max(diffs)

    def caused(self, t: float) -> tuple[float, float] | None:
        """The harness's outage in force at ``t`` or the first after it."""
        return next(((s, e) for s, e in self.harness if e > t), None)


def compare(name: str, drill: Drill, client: IndependentClient, tolerance_s: float) -> Agreement:
    m = drill.measurements()  # closes the window: the probes stop, the survivor is read
    client.stop()
    survivor = drill.cluster.address(drill.cluster.primary)
    # Only while both sides wrote: the client starts after the probes and stops after them.
    first, last = min(a for _, _, a in client.acks), max(a for _, _, a in client.acks)
    harness = [(o.start.t, o.end.t if o.end is not None else float("inf")) for o in m.outages]
    harness = [(s, e) for s, e in harness if e > first and s < last]
    return Agreement(name, tolerance_s, m, harness, client.outages(survivor), client.lost(survivor))


# -- the drills ---------------------------------------------------------------------------------


def _start(drill: Drill, replicas: int = 1) -> IndependentClient:
    drill.configure(replicas=replicas, replication="async")
    c = drill.cluster
    client = IndependentClient(lambda: c.address(c.primary))
    drill.start_probes(INTERVAL)
    client.start()
    time.sleep(1.0)
    return client


def freezes(*lengths: float) -> Callable[[Drill], IndependentClient]:
    def run(drill: Drill) -> IndependentClient:
        client = _start(drill)
        for seconds in lengths:
            fault = drill.apply(PauseNode(drill.cluster, drill.target("the primary")))
            drill.faults.heal_after(fault, seconds)
            time.sleep(seconds + 1.5)
        return client
    return run


def latency(drill: Drill) -> IndependentClient:
    client = _start(drill)
    fault = drill.apply(Delay(drill.cluster, "the primary", 0.120))
    time.sleep(2.0)
    drill.faults.heal(fault)
    time.sleep(0.5)
    return client


def stop_start(drill: Drill) -> IndependentClient:
    client = _start(drill)
    drill.inject("stop", "the primary")
    time.sleep(0.5)
    drill.restart("the primary")
    time.sleep(1.0)
    return client


def deposed_primary(drill: Drill) -> IndependentClient:
    """The primary is cut from its replica (clients still reach it); the replica is promoted
    behind the clients' backs, so for 1.5 s the old primary goes on acknowledging writes that
    the new one never gets; then the clients move to the new primary. Those writes are lost,
    and the outage runs from the cut to the first write on the new primary."""
    client = _start(drill)
    c = drill.cluster
    old, new = c.primary, c.replicas()[0]
    drill.apply(CutFromReplicas(c, "the primary"))
    with psycopg.connect(f"host={c.address(new)} port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute("SELECT pg_promote(true, 10)")
    time.sleep(1.5)
    c.roles.promoted(new)  # the clients' service address moves from the old primary: both follow it
    drill.clients_moved()
    assert c.primary != old
    time.sleep(1.5)
    return client


# Where the edges of the two sides' outages may lie apart: each side sees an edge at its own
# next write (one probe interval), and after a thaw the commits queue behind one WAL flush
# (measured: up to 53 ms). When the service moves, or the server starts again, each side opens
# new connections, and on this shared 2-core machine the first commits on them were served up
# to 240 ms apart (a starting server answers its queued statements one by one).
SAME_NODE = INTERVAL + 0.05
NEW_NODE = INTERVAL + 0.25

DRILLS: dict[str, tuple[Callable[[Drill], IndependentClient], float]] = {
    "freeze 0.5 s": (freezes(0.5), SAME_NODE),
    "freeze 0.8 s": (freezes(0.8), SAME_NODE),
    "freeze 2 s": (freezes(2.0), SAME_NODE),
    "freezes 1 s, then 0.5 s": (freezes(1.0, 0.5), SAME_NODE),
    "freezes 2 s, then 1 s": (freezes(2.0, 1.0), SAME_NODE),
    "120 ms latency, nothing fails": (latency, SAME_NODE),
    "clean stop and start": (stop_start, NEW_NODE),
    "deposed primary, writes rewound": (deposed_primary, NEW_NODE),
}


def run_drill(name: str, drill: Drill) -> Agreement:
    run, tolerance = DRILLS[name]
    client = run(drill)
    try:
        return compare(name, drill, client, tolerance)
    finally:
        client.stop()
