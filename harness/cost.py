"""The cost of a drill: CPU seconds, peak memory, bytes written and network bytes per node.

A drill part (:class:`CostMeter`, section ``cost``). From the moment the probes start it asks
Docker for every container of the run's topology (nodes, etcd members, the monitoring
container) every ``interval_s`` (the stats API, one shot: cgroup counters, no sampling wait)
and keeps each container's first and last answer, so a node killed mid-drill is counted up
to its last answer. At the end:

- ``cpu_s``: CPU time the container's processes used in the window (cgroup cpuacct);
- ``peak_memory_mb``: the container's highest memory use (the cgroup's max usage: since the
  container started, which for a drill's nodes is the drill itself);
- ``written_mb``: block I/O writes the cgroup saw (its own layer) plus what the node's
  loop-mounted data and WAL filesystems wrote (ext4's ``lifetime_write_kbytes``: writes to a
  loop device are done by the kernel's loop thread, which no container's cgroup sees);
- ``network_rx_mb`` / ``network_tx_mb``: bytes its interfaces received and sent.

A counter Docker did not give is None (unknown), never 0.

summary.json carries it as ``scenarios[i].cost`` (and, as before, ``scenarios[i].sections.cost``)
and the run's total as ``cost`` (:func:`run_cost`: totals, then each scenario with its nodes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import docker.errors
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from harness.drill import Drill
    from harness.runtime.docker import DockerRuntime

__all__ = ["Cost", "CostMeter", "NodeCost", "RunCost", "ScenarioCost", "counters", "run_cost", "scenario_cost"]

log = logging.getLogger(__name__)
MB = 1024 * 1024
EXT4 = Path("/sys/fs/ext4")


class NodeCost(BaseModel):
    model_config = ConfigDict(frozen=True)
    node: str
    cpu_s: float | None
    peak_memory_mb: float | None
    written_mb: float | None
    network_rx_mb: float | None
    network_tx_mb: float | None


class Cost(BaseModel):
    """One scenario's cost (the sums over its containers; peak memory is the sum of the peaks)."""

    model_config = ConfigDict(frozen=True)
    cpu_s: float | None
    peak_memory_mb: float | None
    written_mb: float | None
    network_mb: float | None
    window_s: float
    nodes: list[NodeCost]


class ScenarioCost(Cost):
    """One scenario's cost in the run's total (summary.json ``cost.scenarios``)."""

    scenario: str
    feature: str = ""


class RunCost(BaseModel):
    """summary.json's ``cost``: the run's totals (sums over its scenarios) and each scenario's, per node."""

    model_config = ConfigDict(frozen=True)
    cpu_s: float | None
    peak_memory_mb: float | None  # the sum of the scenarios' peaks (they ran one after another, or not)
    written_mb: float | None
    network_mb: float | None
    window_s: float
    scenarios: list[ScenarioCost]


def _sum(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known), 3) if known else None


def scenario_cost(scenario: Mapping[str, Any]) -> Cost | None:
    """A scenario's cost from its summary.json entry (``cost``, or ``sections.cost`` as older runs wrote it)."""
    raw = scenario.get("cost") or (scenario.get("sections") or {}).get("cost")
    return Cost.model_validate(raw) if raw else None


def run_cost(scenarios: Sequence[Mapping[str, Any]]) -> RunCost | None:
    """The run's cost over its scenarios' (None when no scenario measured any)."""
    each = []
    for s in scenarios:
        c = scenario_cost(s)
        if c is not None:
            each.append(ScenarioCost(scenario=str(s.get("scenario", "")), feature=str(s.get("feature", "")),
                                     **c.model_dump()))
    if not each:
        return None
    return RunCost(cpu_s=_sum([c.cpu_s for c in each]), peak_memory_mb=_sum([c.peak_memory_mb for c in each]),
                   written_mb=_sum([c.written_mb for c in each]), network_mb=_sum([c.network_mb for c in each]),
                   window_s=round(sum(c.window_s for c in each), 3), scenarios=each)


def _ext4_written_kb(device: str | None) -> float | None:
    if not device:
        return None
    try:
        return float((EXT4 / Path(device).name / "lifetime_write_kbytes").read_text())
    except (OSError, ValueError):
        return None


def counters(stats: Mapping[str, Any], devices: list[str | None]) -> dict[str, float | None]:
    """The cumulative counters of one stats answer (bytes, nanoseconds) and the volumes' writes."""
    cpu = (stats.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage")
    mem = stats.get("memory_stats") or {}
    peak = mem.get("max_usage") or mem.get("usage")
    blk = (stats.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    # An empty list is no answer (cgroup v1 here does not see a container's buffered writes): unknown, not 0.
    written: float | None = (float(sum(int(e.get("value", 0)) for e in blk if str(e.get("op", "")).lower() == "write"))
                             if blk else None)
    vols = [_ext4_written_kb(d) for d in devices]
    if any(v is not None for v in vols):
        written = (written or 0.0) + sum(v for v in vols if v is not None) * 1024
    nets = stats.get("networks")
    rx = tx = None
    if isinstance(nets, Mapping):
        rx = float(sum(int(n.get("rx_bytes", 0)) for n in nets.values()))
        tx = float(sum(int(n.get("tx_bytes", 0)) for n in nets.values()))
    return {"cpu_ns": float(cpu) if cpu is not None else None, "peak": float(peak) if peak else None,
            "written": written, "rx": rx, "tx": tx}


def _delta(first: dict[str, float | None], last: dict[str, float | None], key: str, scale: float) -> float | None:
    a, b = first.get(key), last.get(key)
    return None if a is None or b is None else round(max(0.0, b - a) / scale, 3)


class CostMeter:
    """Samples the run's containers from the probes' start to the drill's close."""

    section = "cost"

    def __init__(self, interval_s: float = 2.0) -> None:
        self.interval_s = interval_s
        self._runtime: DockerRuntime | None = None
        self._first: dict[str, dict[str, float | None]] = {}
        self._last: dict[str, dict[str, float | None]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = self._t1 = 0.0

    @classmethod
    def for_drill(cls, drill: Drill) -> CostMeter:
        return cls()

    def __enter__(self) -> CostMeter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def probes_started(self, drill: Drill) -> None:
        import time

        from harness.runtime.docker import DockerRuntime

        runtime = drill.cluster.runtime if drill.topology_started else None
        if not isinstance(runtime, DockerRuntime) or self._thread is not None:
            return  # the fake runtime has no containers to measure
        self._runtime = runtime
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="cost", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # The first answer comes from this thread too: the probes' first writes are not kept waiting.
        while True:
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a missed round only makes the last answer older
                log.debug("cost sampling failed", exc_info=True)
            if self._stop.wait(self.interval_s):
                return

    def sample(self) -> None:
        assert self._runtime is not None
        nodes = list(self._runtime.nodes())

        def one(node: Any) -> tuple[str, dict[str, float | None]] | None:
            try:
                stats = node.container.stats(stream=False, one_shot=True)
            except (docker.errors.APIError, OSError):
                return None
            if not stats.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage"):
                return None  # a stopped container answers zeros: keep its last real answer
            devices = [v.device for v in getattr(node, "volumes", {}).values()]
            return node.name, counters(stats, devices)

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(nodes)))) as pool:
            for got in pool.map(one, nodes):
                if got is not None:
                    self._first.setdefault(got[0], got[1])
                    self._last[got[0]] = got[1]

    def close(self) -> None:
        import time

        if self._thread is None:
            return
        try:
            self.sample()  # the final answer, while the containers still exist
        except Exception:  # noqa: BLE001 - the sampler's last round stands
            log.debug("final cost sample failed", exc_info=True)
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 5)
        self._t1 = time.monotonic()

    def result_section(self) -> Cost | None:
        if not self._first:
            return None
        nodes = []
        for name in sorted(self._first):
            a, b = self._first[name], self._last[name]
            peak = b.get("peak")
            nodes.append(NodeCost(node=name, cpu_s=_delta(a, b, "cpu_ns", 1e9),
                                  peak_memory_mb=None if peak is None else round(peak / MB, 1),
                                  written_mb=_delta(a, b, "written", MB), network_rx_mb=_delta(a, b, "rx", MB),
                                  network_tx_mb=_delta(a, b, "tx", MB)))

        return Cost(cpu_s=_sum([n.cpu_s for n in nodes]), peak_memory_mb=_sum([n.peak_memory_mb for n in nodes]),
                    written_mb=_sum([n.written_mb for n in nodes]),
                    network_mb=_sum([(n.network_rx_mb or 0) + (n.network_tx_mb or 0) for n in nodes
                                      if n.network_rx_mb is not None or n.network_tx_mb is not None]),
                    window_s=round(self._t1 - self._t0, 3), nodes=nodes)
