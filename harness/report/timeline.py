"""A drill at a glance: probe latency and failures over time, fault windows shaded, each
outage (no surviving acknowledged write for longer than the threshold) hatched, recovery
actions marked, each fault's RTO and the lost writes drawn on it. Made from the history alone
(PNG and SVG).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display here, and none needed

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from harness.checkers.measure import Measurements  # noqa: E402
from harness.checkers.outages import faults_in_window  # noqa: E402
from harness.checkers.rpo import rpo  # noqa: E402
from harness.history import ActionEvent, AlertEvent, Event, FaultEvent, Note, ProbeOp, Sample  # noqa: E402

__all__ = ["timeline_chart"]

_FAULT_COLOURS = ["#e4572e", "#f3a712", "#a8c686", "#669bbc", "#b388eb"]


def _origin(events: list[Event]) -> float:
    for e in events:
        if isinstance(e, Note) and e.name == "window_start":
            return e.at.t
    probes = [e for e in events if isinstance(e, ProbeOp)]
    return probes[0].at.t if probes else (events[0].at.t if events else 0.0)


def _fault_windows(events: list[Event], end: float) -> list[tuple[str, float, float]]:
    """(label, start, end) for each injected fault, ended by its heal or the end of the chart."""
    open_: dict[tuple[str, str], float] = {}
    out: list[tuple[str, float, float]] = []
    for e in events:
        if not isinstance(e, FaultEvent):
            continue
        if e.phase == "inject":
            # Shade from when the injector was called: the effect lands somewhere in between.
            open_[(e.fault, e.target)] = (e.began or e.at).t
        elif e.fault == "restart":
            # A restart heals whatever took that node down.
            for key in [k for k in open_ if k[1] == e.target]:
                out.append((f"{key[0]} {key[1]}", open_.pop(key), e.at.t))
        elif (e.fault, e.target) in open_:
            out.append((f"{e.fault} {e.target}", open_.pop((e.fault, e.target)), e.at.t))
    out += [(f"{f} {t}", s, end) for (f, t), s in open_.items()]
    return sorted(out, key=lambda w: w[1])


def _plot_probe(ax: Axes, ops: list[ProbeOp], t0: float, colour: str, label: str) -> None:
    ok = [o for o in ops if o.outcome == "ok"]
    ax.plot([o.at.t - t0 for o in ok], [(o.end.t - o.at.t) * 1000 for o in ok], ".", ms=3, color=colour,
            label=f"{label} ok ({len(ok)})")
    bad = [o for o in ops if o.outcome != "ok"]
    if bad:
        ax.plot([o.at.t - t0 for o in bad], [(o.end.t - o.at.t) * 1000 for o in bad], "x", ms=5,
                color="#c1121f" if label == "write" else "#780000", label=f"{label} failed/timeout ({len(bad)})")


def timeline_chart(history: Iterable[Event], out_dir: Path, *, title: str = "",
                   measurements: Measurements | None = None) -> list[Path]:
    """Draw the chart into ``out_dir/timeline.png`` and ``.svg``; returns both paths."""
    events = list(history)
    t0 = _origin(events)
    closes = [e.at.t for e in events if isinstance(e, Note) and e.name == "window_end"]
    ends = [o.end.t for o in events if isinstance(o, ProbeOp)]
    end = closes[-1] if closes else max(ends, default=t0 + 1)
    writes = [e for e in events if isinstance(e, ProbeOp) and e.probe == "write"]
    reads = [e for e in events if isinstance(e, ProbeOp) and e.probe == "read"]

    samples = [e for e in events if isinstance(e, Sample) and t0 <= e.at.t <= end]
    fig, (ax, ax2, ax3) = plt.subplots(3, 1, figsize=(11, 7), sharex=True, height_ratios=[3, 1, 1.4])
    for i, (label, s, stop) in enumerate(_fault_windows(events, end)):
        for a in (ax, ax2, ax3):
            a.axvspan(s - t0, stop - t0, color=_FAULT_COLOURS[i % len(_FAULT_COLOURS)], alpha=0.18, lw=0)
        ax.annotate(label, (s - t0, 1.0), xycoords=("data", "axes fraction"), fontsize=8, va="bottom",
                    color=_FAULT_COLOURS[i % len(_FAULT_COLOURS)])
    for act in events:
        if isinstance(act, ActionEvent) and not act.action.startswith(("expect.", "topology.")) and act.end.t <= end:
            for a in (ax, ax2, ax3):
                a.axvline(act.end.t - t0, color="#333333", lw=0.8, ls="--")
            ax2.annotate(act.action, (act.end.t - t0, 0.05), xycoords=("data", "axes fraction"), fontsize=8,
                         rotation=90, va="bottom", ha="right")
    fired = [e for e in events if isinstance(e, AlertEvent) and e.phase == "firing" and t0 <= e.at.t <= end]
    for sev, colour in (("critical", "#d00000"), ("warning", "#e85d04"), ("info", "#4361ee")):
        mine = [a for a in fired if a.severity == sev]
        if mine:
            ax2.plot([a.at.t - t0 for a in mine], [0.5] * len(mine), "D", color=colour, ms=5,
                     label=f"{sev} alerts ({len(mine)}): " + ", ".join(sorted({a.alert for a in mine}))[:60])
    _plot_probe(ax, writes, t0, "#2a9d8f", "write")
    _plot_probe(ax, reads, t0, "#457b9d", "read")
    ax.set_yscale("log")
    ax.set_ylabel("probe latency (ms)")

    # Lower panel: did each write succeed? (1 = acknowledged), and the lost acknowledged writes.
    ax2.step([o.at.t - t0 for o in writes], [1 if o.outcome == "ok" else 0 for o in writes], where="post",
             color="#2a9d8f", lw=1)
    ax2.set_ylim(-0.15, 1.3)
    ax2.set_yticks([0, 1], ["fail", "ok"])
    # Bottom panel: what the monitor saw: replication lag per replica, and disk use per node.
    nodes = sorted({smp.node for smp in samples})
    for node in nodes:
        of_node = [smp for smp in samples if smp.node == node]
        lag = [(smp.at.t - t0, smp.metrics["lag_bytes"] / 1024) for smp in of_node if "lag_bytes" in smp.metrics]
        if lag:
            ax3.plot([x for x, _ in lag], [y for _, y in lag], "-", lw=1, label=f"lag {node} (kB)")
    # WAL the DR region has not received yet (the RPO exposure sampler's), per standby.
    for node in nodes:
        dr = [(smp.at.t - t0, smp.metrics["dr_lag_bytes"] / 1024) for smp in samples
              if smp.node == node and "dr_lag_bytes" in smp.metrics]
        if dr:
            ax3.plot([x for x, _ in dr], [y for _, y in dr], "--", lw=1, label=f"unreceived {node} (kB)")
    ax3.set_ylabel("replication lag (kB)")
    disk = ax3.twinx()
    for node in nodes:
        pts = [(smp.at.t - t0, smp.metrics["disk_max_pct"]) for smp in samples
               if smp.node == node and "disk_max_pct" in smp.metrics]
        if pts:
            disk.plot([x for x, _ in pts], [y for _, y in pts], ":", lw=1.2, label=f"disk {node} (%)")
    disk.set_ylim(0, 100)
    disk.set_ylabel("disk use (%)")
    handles = ax3.get_legend_handles_labels()[0] + disk.get_legend_handles_labels()[0]
    if handles:
        ax3.legend(handles=handles, loc="upper left", fontsize=7, ncol=3)
    ax3.set_xlabel("seconds since the window opened")
    try:
        lost = rpo(events)
        lost_seqs = {s for lo, hi in lost.lost_seqs for s in range(lo, hi + 1)}
    except Exception:  # noqa: BLE001 - a chart never hides the run; the checker reports its own error
        lost_seqs = set()
    lost_ops = [o for o in writes if o.seq in lost_seqs and o.outcome == "ok"]
    if lost_ops:
        ax2.plot([o.end.t - t0 for o in lost_ops], [1.15] * len(lost_ops), "v", color="black", ms=5,
                 label=f"lost acknowledged writes ({len(lost_seqs)})")
    if lost_ops or fired:
        ax2.legend(loc="upper right", fontsize=7)

    if measurements is not None:
        _draw_outages(events, measurements, t0, end, (ax, ax2, ax3))
        _draw_fault_rtos(events, measurements, t0, ax)
    ax.legend(loc="lower left", fontsize=8, ncol=2, framealpha=0.8)
    bits = [title] if title else []
    if measurements is not None:
        m = measurements
        av = "n/a" if m.availability is None else f"{m.availability * 100:.2f} %"
        down = "n/a" if m.downtime_s is None else f"{m.downtime_s:.3f} s"
        budget = "n/a" if m.error_budget_used is None else f"{m.error_budget_used * 100:.3g} %"
        bits.append(f"downtime {down} ({budget} of the error budget), lost writes {m.rpo_lost_writes}, "
                    f"availability {av}")
    fig.suptitle(" — ".join(bits), fontsize=10)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "timeline.png", out_dir / "timeline.svg"]
    fig.savefig(paths[0], dpi=110)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


def _draw_outages(events: list[Event], m: Measurements, t0: float, end: float, axes: tuple[Axes, ...]) -> None:
    """Hatch every write outage (spans with no surviving acknowledged write), labelled with its length."""
    for i, o in enumerate(m.outages):
        stop = o.end.t if o.end is not None else end
        for a in axes:
            a.axvspan(o.start.t - t0, stop - t0, facecolor="none", edgecolor="#495057", hatch="///", lw=0,
                      alpha=0.5, label="outage" if (i == 0 and a is axes[0]) else None)
        text = f"outage {o.length_s:.3f} s" + ("" if o.end is not None else " (not back)")
        axes[1].annotate(text, (o.start.t - t0, 1.22), xycoords=("data", "data"), fontsize=7, color="#343a40")


def _draw_fault_rtos(events: list[Event], m: Measurements, t0: float, ax: Axes) -> None:
    """An arrow from each fault's began to the end of the outage it caused, with its RTO."""
    top = ax.get_ylim()[1]
    for i, (f, fm) in enumerate(zip(faults_in_window(events), m.faults, strict=False)):
        tf = (f.began or f.at).t - t0
        y = top * (0.35 / (2.2 ** (i % 3)))  # staggered on the log axis so neighbours do not overlap
        if fm.rto_write_s is None:
            ax.text(tf, y, f"{fm.name} {fm.target}: write RTO n/a (not back)", fontsize=8)
            continue
        if fm.rto_write_s > 0:
            ax.annotate("", xy=(tf + fm.rto_write_s, y), xytext=(tf, y), arrowprops={"arrowstyle": "<->",
                                                                                      "color": "black"})
        ax.text(tf + fm.rto_write_s / 2, y * 1.15, f"{fm.name} {fm.target}: write RTO {fm.rto_write_s:.3f} s",
                ha="center", fontsize=8)
