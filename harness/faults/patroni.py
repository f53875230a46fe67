"""Faults and actions of the Patroni + etcd topology.

- ``DcsOutage``: every etcd member killed; healed by booting them and starting etcd again.
- ``KillPatroni``: SIGKILL to the Patroni daemon only; PostgreSQL keeps running, orphaned
  (nothing renews the leader key, nothing demotes it). Healed by starting Patroni again,
  which adopts the running server (and demotes and rewinds it if another node leads now).
- ``Switchover`` / ``Failover``: the operator's planned switchover (``POST /switchover`` on
  the REST API) and manual failover (``patronictl failover``) as disruptions with a fault
  time. The request is sent from a background thread so that the fault time is when it was
  made, not when Patroni answered (it answers once the switch is over); the answer goes into
  the history as a ``patroni.switchover`` / ``patroni.failover`` action.
"""

from __future__ import annotations

import json
import threading
import urllib.error
from typing import TYPE_CHECKING, Literal

from harness.errors import CommandFailed, SetupError
from harness.history import ActionEvent, now
from harness.topology.patroni import PATRONI_PROCESS

if TYPE_CHECKING:
    from harness.drill import Drill
    from harness.topology.patroni import PatroniCluster

__all__ = ["DcsOutage", "KillPatroni", "Switchover", "run_leader_kills"]

# pgrep -f pattern of the daemon (``/usr/bin/python3 /usr/bin/patroni <config>``); patronictl does not match.


class DcsOutage:
    """Every etcd member killed; healed by booting them and starting etcd again."""

    name = "dcs-outage"
    one_shot = False

    def __init__(self, cluster: PatroniCluster) -> None:
        self.cluster = cluster
        self.target = ",".join(cluster.etcd_names)

    def inject(self) -> str:
        for name in self.cluster.etcd_names:
            self.cluster.node(name).kill()
        return f"killed every etcd member ({self.target})"

    def heal(self) -> str:
        for name in self.cluster.etcd_names:
            if not self.cluster.node(name).is_running():
                self.cluster.restart_patroni(name)  # boots the container and starts etcd in it
        return f"etcd started again on {self.target}"


class KillPatroni:
    """SIGKILL to the Patroni daemon of a node; its PostgreSQL keeps running."""

    name = "kill-patroni"
    one_shot = False

    def __init__(self, cluster: PatroniCluster, target: str) -> None:
        self.cluster, self.target = cluster, target
        self._killed = False

    def inject(self) -> str:
        res = self.cluster.node(self.target).exec(
            ["sh", "-c", f"pids=$(pgrep -f '{PATRONI_PROCESS}' | tr '\\n' ' ') && [ -n \"$pids\" ] && "
                         "kill -KILL $pids && echo $pids"], user="root", timeout=10)
        if res.exit_code != 0:
            raise CommandFailed(self.target, "kill -KILL patroni", res.exit_code, res.output or "no Patroni process")
        self._killed = True
        return f"SIGKILL to Patroni (pid {res.output.strip()}) on {self.target}; PostgreSQL left running"

    def heal(self) -> str:
        if not self._killed:
            return f"Patroni was not killed on {self.target}"
        node = self.cluster.node(self.target)
        if not node.is_running():
            self._killed = False
            return f"{self.target} is down: nothing to start"
        running = node.exec(["pgrep", "-f", PATRONI_PROCESS], user="root", timeout=10)
        if running.exit_code != 0:
            self.cluster.start_patroni_daemon(self.target)
        self._killed = False
        return f"Patroni started again on {self.target} (it adopts the running PostgreSQL)"


class Switchover:
    """A planned switchover (REST ``POST /switchover``) or a manual failover (``patronictl failover``)."""

    one_shot = True

    def __init__(self, cluster: PatroniCluster, leader: str, candidate: str,
                 how: Literal["switchover", "failover"] = "switchover",
                 via: Literal["rest", "patronictl"] = "rest") -> None:
        if leader == candidate:
            raise SetupError(f"{candidate} already leads: there is nothing to switch over to")
        self.cluster, self.leader, self.candidate = cluster, leader, candidate
        self.target = f"{leader}|{candidate}"  # the node it took the lead from first, as a cut does
        self.how, self.via = how, via
        self.name: str = how
        self.thread: threading.Thread | None = None

    def _request(self) -> tuple[bool, str]:
        c = self.cluster
        if self.via == "patronictl":
            cmd = ["patronictl", "-c", c.config_path, self.how, "--candidate", self.candidate, "--force"]
            if self.how == "switchover":
                cmd[4:4] = ["--leader", self.leader]
            res = c.node(self.candidate).exec(cmd, timeout=60)
            return res.exit_code == 0, res.output.strip()[-500:]
        body = {"candidate": self.candidate} | ({"leader": self.leader} if self.how == "switchover" else {})
        try:
            answer = c.rest_post(self.candidate, f"/{self.how}", json.dumps(body).encode(), timeout=60)
            return True, answer
        except urllib.error.HTTPError as exc:
            return False, f"HTTP {exc.code}: {exc.read().decode(errors='replace')[:300]}"
        except OSError as exc:
            return False, str(exc)

    def _run(self) -> None:
        t0 = now()
        ok, detail = self._request()
        self.cluster.history.add(ActionEvent(at=t0, end=now(), action=f"patroni.{self.how}", target=self.candidate,
                                             outcome="ok" if ok else "failed",
                                             detail=f"{self.how} {self.leader} -> {self.candidate} via {self.via}: {detail}"))

    def inject(self) -> str:
        self.thread = threading.Thread(target=self._run, name=f"patroni-{self.how}", daemon=True)
        self.thread.start()
        return f"{self.how} from {self.leader} to {self.candidate} requested via {self.via}"

    def heal(self) -> str:
        if self.thread is not None:
            self.thread.join(timeout=60)
        return f"{self.how} to {self.candidate} answered"


def run_leader_kills(drill: Drill, count: int, *, rejoin_timeout: float = 90) -> list[str]:
    """Kill the leader ``count`` times; each time wait for Patroni's new leader, boot the old
    one and wait until it streams again and writes keep succeeding, before the next kill.

    Each repetition is a cycle in the schedule's sense (a ``schedule.cycle`` note, then a
    ``schedule.cycle`` action), so :func:`harness.faults.schedule.cycle_recoveries` and the
    schedule's Then steps (every cycle recovered within, the MTTR over the cycles) apply.
    """
    from harness.checkers.failover import failover_phases
    from harness.faults.schedule import CYCLE_SERIES, END_NOTE
    from harness.history import FaultEvent, ProbeOp, RepetitionMark
    from harness.wait import wait_until

    if not 1 <= count <= 20:
        raise SetupError(f"kill the leader 1 to 20 times, not {count}")
    from harness.topology.patroni import patroni_of

    cluster = patroni_of(drill)
    ttl = cluster.ttl
    lines: list[str] = []
    for i in range(1, count + 1):  # bounded by count
        drill.history.add(RepetitionMark(at=now(), series=CYCLE_SERIES, index=i, of=count, action="kill the leader",
                                         late_s=0.0))
        s0 = now()
        try:
            old = cluster.primary
            drill.inject("kill", "the leader")
            new = cluster.wait_new_leader(old, timeout=3 * ttl + 30)
            fault = drill.history.of(FaultEvent)[-1]
            cluster.restart_patroni(old)
            drill.brought_back(old)
            cluster.wait_streaming(timeout=rejoin_timeout, expect=[old])
            # and Patroni shows it as a replica on the new timeline (the cycle's rejoin time)
            def rejoined(f: FaultEvent = fault) -> bool:
                return failover_phases(drill.history.events(), f).rejoin_s is not None

            wait_until(rejoined, timeout=rejoin_timeout, interval=0.2, what=f"Patroni to show {old} rejoined")

            def writes_steady(since: float = s0.t) -> bool:
                mine = [o for o in drill.history.of(ProbeOp) if o.probe == "write" and o.at.t > since][-5:]
                return len(mine) == 5 and all(o.outcome == "ok" for o in mine)

            wait_until(writes_steady, timeout=30, interval=0.1, what="writes to succeed again")
        except Exception as exc:
            drill.history.add(ActionEvent(at=s0, end=now(), action="schedule.cycle", target=str(i), outcome="failed",
                                          detail=f"kill the leader: {exc}"[:800]))
            drill.history.note(END_NOTE, f"stopped at cycle {i} of {count}")
            raise
        line = f"cycle {i}/{count} (kill the leader): {old} killed, {new} elected, {old} rejoined"
        drill.history.add(ActionEvent(at=s0, end=now(), action="schedule.cycle", target=str(i), outcome="ok",
                                      detail=line))
        lines.append(line)
    drill.history.note(END_NOTE, f"{len(lines)} of {count} cycles ran")
    return lines
