"""Steps that choose the stack a drill runs on and ask what its HA manager did.

``Given the stack "trixie"`` (Debian 13: PostgreSQL 17, Patroni 4.0) or ``"bookworm"``
(Debian 12: PostgreSQL 15, Patroni 3.0.2), ``Given Patroni 4.1 from PyPI`` (that version
installed into the stack's image instead of Debian's), and ``Then the old leader took
leadership back`` / ``... either took leadership back or rejoined as a replica``: the
thawed-leader race of Patroni 3.0.2, read from the history.
"""

from __future__ import annotations

import time

from pytest_bdd import given, then

from harness.checkers.failover import failover_phases
from harness.checkers.takeback import TakeBack, took_back
from harness.drill import Drill
from harness.environment import OwnConfigSection, PatroniSection
from harness.errors import SetupError, TargetMissed, WaitTimeout
from harness.wait import wait_until
from harness.history import FaultEvent, now
from harness.images.build import known_stacks
from harness.ownconfig import own_config
from harness.steps.types import parse
from harness.topology.patroni import patroni_of, use_patroni
from harness.topology.pgaf import use_pgaf

__all__: list[str] = []


@given(parse('the stack "{name}"'))
@given(parse("the {name:w} stack"))
def _(drill: Drill, name: str) -> None:
    """Build and run the nodes from that stack: bookworm (Debian 12) or trixie (Debian 13)."""
    if name not in known_stacks():
        raise SetupError(f"no stack {name!r} (known: {', '.join(known_stacks())})")
    if drill.topology_started:
        raise SetupError("Given the stack ... must come before the topology starts (probes, faults)")
    drill.use_environment(drill.env.model_copy(update={"stack": name}))
    drill.history.note("stack", f"the {name} stack")


@given(parse("Patroni {version} from PyPI"))
def _(drill: Drill, version: str) -> None:
    """``4.1`` means the newest 4.1.x; ``4.1.3`` that one (downloaded on the host, installed offline)."""
    spec = version if version.count(".") >= 2 else f"{version}.x"
    section = drill.env.patroni or PatroniSection()
    try:
        section = PatroniSection.model_validate(section.model_dump() | {"source": "pypi", "version": spec})
    except ValueError as exc:
        raise SetupError(f"Patroni {version} from PyPI: {exc}") from exc
    drill.use_environment(drill.env.model_copy(update={"patroni": section}))
    use_patroni(drill, source="pypi", version=spec)


def _thaw_deadline(drill: Drill, slack: float) -> float:
    """When a take-back must have shown: the last heal of a fault (the thaw) plus ``slack``."""
    faults = drill.history.of(FaultEvent)
    heals = [e.at.t for e in faults if e.phase == "heal"]
    injected = [e for e in faults if e.phase == "inject"]
    if not injected:
        raise SetupError("no fault happened yet (When I freeze the leader for 30 seconds)")
    return (max(heals) if heals else now().t) + slack


@then(parse("the old leader took leadership back"))
@then(parse("the old leader took leadership back within {slack:Duration} of the thaw"))
def _(drill: Drill, slack: float = 30.0) -> None:
    """The deposed leader held the key again after another member led (Patroni 3.0.2's race)."""
    cluster = patroni_of(drill)

    got: TakeBack | None = None
    # Bounded: the deadline is the thaw plus slack (re-read, as the heal may come while waiting).
    while got is None and now().t < _thaw_deadline(drill, slack):
        cluster.watch.poll()
        got = took_back(drill.history.events())
        if got is None:
            time.sleep(0.2)
    if got is None:
        raise TargetMissed("old leader took leadership back", failover_phases(drill.history.events()).reason,
                           "the old leader holding the key again after another member led")
    drill.history.note("ha.takeback", got.describe())


@then(parse("the old leader either took leadership back or rejoined as a replica within {timeout:Duration}"))
@then(parse("the thawed leader's race is reported within {timeout:Duration}"))
def _(drill: Drill, timeout: float) -> None:
    """Patroni 3.0.2's thaw race, either way: one leader within the timeout, the winner noted.

    On 3.0.2 both happen (``bench/stacks.py --freeze-runs``): the thawed HA loop either acts on
    its stale view of etcd (it held the key) and puts the key back, or its watcher thread
    delivers the new leader first and it demotes."""
    cluster = patroni_of(drill)
    faults = [e for e in drill.history.of(FaultEvent) if e.phase == "inject"]
    if not faults:
        raise SetupError("no fault happened yet (When I freeze the leader for 30 seconds)")
    t0 = now()
    try:
        cluster.wait_streaming(timeout=timeout)
    except WaitTimeout as exc:
        raise TargetMissed("one leader after the thaw", str(exc), f"within {timeout:g} s") from exc
    phases = failover_phases(drill.history.events())
    old = phases.old_leader
    got = took_back(drill.history.events())
    if got is not None:
        drill.history.note("ha.takeback", got.describe())
        return
    # No take-back: the old leader must be one of the replicas now (it lost the race and rejoined).
    try:
        wait_until(lambda: failover_phases(drill.history.events()).rejoin_s is not None,
                   timeout=max(1.0, timeout - (now().t - t0.t)), interval=0.2,
                   what=f"Patroni to show {old} as a replica on the new leader's timeline")
    except WaitTimeout as exc:
        raise TargetMissed("old leader took leadership back or rejoined", f"{phases.reason}; {exc}",
                           f"one of the two within {timeout:g} s") from exc
    drill.history.note("ha.takeback", f"the old leader {old} did not take leadership back: it rejoined "
                                      f"{cluster.primary} as a replica")


@then(parse("the old leader did not take leadership back"))
def _(drill: Drill) -> None:
    """The deposed leader never held the leader key again after another member led."""
    got = took_back(drill.history.events())
    if got is not None:
        raise TargetMissed("old leader stayed deposed", got.describe(), "no take-back")


# -- the team's own configuration files (harness.ownconfig) ----------------------------------


def _use_file(drill: Drill, kind: str, path: str) -> None:
    """Point the environment's config section at ``path`` and validate it now (fail fast)."""
    if drill.topology_started:
        raise SetupError(f"Given the ... file {path!r} must come before the topology starts (probes, faults)")
    current = drill.env.config or OwnConfigSection()
    env = drill.env.model_copy(update={"config": current.model_copy(update={kind: path})})
    own_config(env)  # a ConfigFileError names the file and line
    drill.use_environment(env)


@given(parse('the PostgreSQL settings file "{path}"'))
def _(drill: Drill, path: str) -> None:
    """Apply the team's own postgresql.conf settings (validated against the image's settings)."""
    _use_file(drill, "postgresql", path)


@given(parse('the pg_hba.conf lines in "{path}"'))
@given(parse('the pg_hba file "{path}"'))
def _(drill: Drill, path: str) -> None:
    """Put the team's own pg_hba.conf lines before the harness's own."""
    _use_file(drill, "pg_hba", path)


@given(parse('the Patroni configuration file "{path}"'))
def _(drill: Drill, path: str) -> None:
    """Merge the team's own Patroni YAML into the generated configuration (dynamic configuration included)."""
    _use_file(drill, "patroni", path)


@given(parse('the pgBackRest configuration file "{path}"'))
def _(drill: Drill, path: str) -> None:
    """Add the team's own pgbackrest.conf options (validated against the image's pgBackRest)."""
    _use_file(drill, "pgbackrest", path)


# -- pg_auto_failover (harness.topology.pgaf) --------------------------------------------------


@given(parse("a pg_auto_failover cluster with {nodes:d} nodes"))
def _(drill: Drill, nodes: int) -> None:
    """pg_auto_failover: a monitor and that many PostgreSQL nodes, roles read from the monitor."""
    use_pgaf(drill, nodes=nodes)


@given(parse("pg_auto_failover marks a node unhealthy after {timeout:Duration}"))
def _(drill: Drill, timeout: float) -> None:
    """The monitor's node_considered_unhealthy_timeout (its failover's "ttl")."""
    use_pgaf(drill, unhealthy_timeout_ms=int(timeout * 1000))


@given(parse("a Patroni cluster with {nodes:d} nodes"))
def _(drill: Drill, nodes: int) -> None:
    """Patroni with a 1-member etcd (the side-by-side phrasing: "a <manager> cluster with 3 nodes")."""
    use_patroni(drill, nodes=nodes, etcd_members=1)
