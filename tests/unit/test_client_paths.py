"""Unit tests of the client path: generated configurations, per-path numbers, bad settings."""

from __future__ import annotations

import subprocess
import shutil
from pathlib import Path

import pytest

from harness.checkers.measure import measure
from harness.checkers.paths import path_added_s, path_measures, served_node
from harness.clients.haproxy import haproxy_config
from harness.clients.pgbouncer import pgbouncer_config, pool_usage
from harness.environment import ClientsSection, HaproxySettings, PgbouncerSettings, load_environment
from harness.errors import EnvironmentFileError, SetupError
from harness.history import ClientPathChosen, Event, FaultEvent, Note, ProbeOp, Stamp


def st(t: float) -> Stamp:
    return Stamp(t=t, wall=1_700_000_000.0 + t)


def ops(probe: str, acked: list[float], node: str | None = "node2") -> list[Event]:
    return [ProbeOp(at=st(t - 0.01), end=st(t), probe=probe, seq=i, node=node, outcome="ok")  # type: ignore[arg-type]
            for i, t in enumerate(acked)]


def history(gap_direct: tuple[float, float], gap_path: tuple[float, float]) -> list[Event]:
    """Writes every 50 ms from 0 to 10 s through HAProxy and beside it, each with one gap; a fault at 2 s."""
    def grid(gap: tuple[float, float]) -> list[float]:
        return [round(i * 0.05, 3) for i in range(1, 200) if not gap[0] < i * 0.05 < gap[1]]

    evs: list[Event] = [Note(at=st(0), name="window_start", detail=""),
                        ClientPathChosen(at=st(0), path="haproxy")]
    evs += [FaultEvent(at=st(2.0), began=st(1.99), fault="kill", target="node1", phase="inject", detail="")]
    evs += ops("write", grid(gap_path), node="haproxy") + ops("direct-write", grid(gap_direct))
    evs.append(Note(at=st(10), name="window_end", detail=""))
    return sorted(evs, key=lambda e: e.at.t)


def test_each_path_has_its_own_rto_and_the_difference_is_what_the_path_added() -> None:
    evs = history(gap_direct=(2.0, 3.0), gap_path=(2.0, 6.0))
    rows = {m.path: m for m in path_measures(evs, 0.05)}
    assert set(rows) == {"haproxy", "direct"}
    assert rows["direct"].rto_write_s == pytest.approx(1.01, abs=0.06)
    assert rows["haproxy"].rto_write_s == pytest.approx(4.01, abs=0.06)
    assert rows["haproxy"].downtime_s == pytest.approx(4.0, abs=0.1)
    added = path_added_s(list(rows.values()), "haproxy")
    assert added == pytest.approx(3.0, abs=0.1)
    # The scenario's own numbers are its path's: the ideal beside it is left out of them.
    m = measure(evs, 0.05)
    assert m.client_path == "haproxy" and [p.path for p in m.paths] == ["haproxy", "direct"]
    assert m.writes_acknowledged == sum(1 for e in evs if isinstance(e, ProbeOp) and e.probe == "write")


def test_an_outage_under_way_when_the_fault_began_and_over_before_its_injector_returned_is_not_its_rto() -> None:
    """The failed CI run's pg_auto_failover kill behind PgBouncer: the ideal's write, slow under
    load, was acknowledged 3 ms after the kill began and 0.5 s before the kill returned; the
    16 s outage came after it. The ideal's row read RTO 0.003 s and the path "added" 16.35 s.
    Both rows are now measured by the scenario's own checker, which knows that outage was not
    the fault's: the path added 0.86 s."""
    evs: list[Event] = [Note(at=st(0), name="window_start", detail=""),
                        ClientPathChosen(at=st(0), path="pgbouncer"),
                        FaultEvent(at=st(2.53), began=st(2.0), fault="kill", target="node1", phase="inject",
                                   detail="")]
    evs += ops("write", [round(0.05 * i, 3) for i in range(1, 42)] + [18.36 + 0.05 * i for i in range(20)],
               node="pgbouncer")
    direct = [round(0.05 * i, 3) for i in range(1, 30)] + [2.003] + [17.5 + 0.05 * i for i in range(20)]
    evs += ops("direct-write", direct)
    evs.append(Note(at=st(19.5), name="window_end", detail=""))
    evs.sort(key=lambda e: e.at.t)
    rows = {m.path: m for m in path_measures(evs, 0.05)}
    assert rows["direct"].rto_write_s == pytest.approx(15.5, abs=0.01)
    assert rows["pgbouncer"].rto_write_s == pytest.approx(16.36, abs=0.01)
    assert path_added_s(list(rows.values()), "pgbouncer") == pytest.approx(0.86, abs=0.02)
    m = measure(evs, 0.05)  # the path's row is the scenario's own number, by the same checker
    assert m.paths[0].rto_write_s == m.rto_write_s and m.paths[0].downtime_s == m.downtime_s


def test_without_a_chosen_path_the_drill_reports_direct_alone() -> None:
    evs: list[Event] = [Note(at=st(0), name="window_start", detail="")] + ops("write", [0.05 * i for i in range(1, 40)])
    m = measure(evs, 0.05)
    assert m.client_path == "direct" and [p.path for p in m.paths] == ["direct"]


def test_a_write_through_a_path_names_the_node_by_its_server_address() -> None:
    op = ProbeOp(at=st(1), end=st(1.01), probe="write", seq=1, node="haproxy", outcome="ok", server="10.0.0.3")
    assert served_node(op, {"10.0.0.3": "node3"}) == "node3"
    assert served_node(op, {}) == "haproxy"


def test_a_slow_acknowledgement_is_outage_not_service() -> None:
    """A libpq connect that spends connect_timeout on a dead host is answered late: outage."""
    evs: list[Event] = [Note(at=st(0), name="window_start", detail=""), ClientPathChosen(at=st(0), path="libpq")]
    evs += [FaultEvent(at=st(1.0), began=st(1.0), fault="kill", target="node1", phase="inject", detail="")]
    evs += ops("write", [0.05 * i for i in range(1, 20)])
    evs += [ProbeOp(at=st(1.0), end=st(3.0), probe="write", seq=99, node="libpq", outcome="ok")]
    evs += ops("write", [3.0 + 0.05 * i for i in range(1, 20)])
    evs.append(Note(at=st(4.0), name="window_end", detail=""))
    (row,) = path_measures(sorted(evs, key=lambda e: e.at.t), 0.05)
    assert row.rto_write_s == pytest.approx(2.0, abs=0.01)


def test_service_that_never_came_back_has_no_rto() -> None:
    evs = history(gap_direct=(2.0, 3.0), gap_path=(2.0, 11.0))
    rows = {m.path: m for m in path_measures(evs, 0.05)}
    assert rows["haproxy"].rto_write_s is None


def test_haproxy_config_patroni_checks_the_rest_api() -> None:
    cfg = haproxy_config("patroni", ["node1", "node2"], HaproxySettings(inter_ms=2000, fall=3, rise=2))
    assert "option httpchk GET /primary" in cfg and "option httpchk GET /replica" in cfg
    assert "server node1 node1:5432 check port 8008 inter 2000ms fall 3 rise 2" in cfg
    assert "tcp-check" not in cfg


def test_haproxy_config_streaming_tells_a_primary_from_a_standby() -> None:
    cfg = haproxy_config("streaming", ["node1", "node2", "node3"], HaproxySettings())
    rw, ro = cfg.split("listen rw")[1].split("listen ro")
    assert (b"in_hot_standby\0off\0").hex() in rw and (b"in_hot_standby\0on\0").hex() in ro
    assert "port 8008" not in cfg
    assert rw.count("server node") == 3 and ro.count("server node") == 3


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed on this host")
def test_haproxy_accepts_the_generated_config(tmp_path: Path) -> None:
    for kind in ("patroni", "streaming"):
        f = tmp_path / f"{kind}.cfg"
        f.write_text(haproxy_config(kind, ["node1", "node2"], HaproxySettings()))
        proc = subprocess.run(["haproxy", "-c", "-f", str(f)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pgbouncer_config_takes_pool_settings_from_the_environment() -> None:
    ini = pgbouncer_config(PgbouncerSettings(pool_mode="session", default_pool_size=7))
    assert "pool_mode = session" in ini and "default_pool_size = 7" in ini
    assert "postgres = host=haproxy port=5000" in ini and "postgres_ro = host=haproxy port=5001" in ini


def test_pool_usage_counts_busy_server_connections() -> None:
    rows: list[dict[str, object]] = [{"database": "pgbouncer", "sv_active": 0},
                                     {"database": "postgres", "sv_active": 5, "sv_idle": 0, "cl_waiting": 3}]
    assert pool_usage(rows, 5) == (100.0, 3)
    assert pool_usage(rows[:1], 5) == (0.0, 0)


def test_pgbouncer_is_pgbouncer_in_front_of_the_primary_and_pgbouncer_haproxy_behind_haproxy() -> None:
    assert ClientsSection(path="pgbouncer").kind == "pgbouncer"
    assert ClientsSection(path="pgbouncer+haproxy").kind == "pgbouncer+haproxy"


@pytest.mark.parametrize(("text", "field"), [
    ("clients:\n  path: nginx\n", "clients.path"),
    ("clients:\n  path: haproxy\n  haproxy:\n    inter_ms: fast\n", "clients.haproxy.inter_ms"),
    ("clients:\n  path: haproxy\n  haproxy:\n    fall: 0\n", "clients.haproxy.fall"),
    ("clients:\n  pgbouncer:\n    pool_mode: sometimes\n", "clients.pgbouncer.pool_mode"),
    ("clients:\n  pgbouncer:\n    default_pool_size: -1\n", "clients.pgbouncer.default_pool_size"),
])
def test_bad_client_settings_name_the_file_line_and_field(tmp_path: Path, text: str, field: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("name: bad\n" + text)
    with pytest.raises(EnvironmentFileError) as exc:
        load_environment(f)
    assert f"{f}:" in str(exc.value) and field in str(exc.value)


def test_the_default_path_is_haproxy_on_patroni_and_direct_elsewhere(tmp_path: Path) -> None:
    from harness.clients.part import ClientsPart, use_client_path
    from harness.drill import Drill
    from tests.unit.test_conformance import TOPOLOGIES

    class Stub:
        kind, primary, names = "streaming", "node1", ["node1", "node2"]

        def address(self, name: str) -> str:
            return {"node1": "10.0.0.1", "node2": "10.0.0.2"}[name]

    streaming = Drill("u", "u", tmp_path / "s", TOPOLOGIES["streaming"]())
    part = streaming.add_part(ClientsPart(streaming))
    assert part.name == "direct"
    assert part.primary_endpoint(Stub()) == ("node1", "10.0.0.1")  # type: ignore[arg-type]  # the ideal, unchanged
    assert streaming.client_path() is part
    patroni = Drill("u", "u", tmp_path / "p", TOPOLOGIES["patroni"]())
    assert ClientsPart(patroni).name == "haproxy"
    assert use_client_path(patroni, "libpq").name == "libpq"
    with pytest.raises(SetupError, match=r"clients.haproxy.fall: Input should be greater than or equal to 1"):
        use_client_path(patroni, haproxy={"fall": 0})


def test_haproxy_on_pg_auto_failover_checks_the_role_each_node_reports() -> None:
    cfg = haproxy_config("pg_auto_failover", ["node1", "node2", "node3"], HaproxySettings())
    assert "httpchk" not in cfg and cfg.count("tcp-check expect binary") == 2
    assert "server node3 node3:5432" in cfg and "monitor" not in cfg


def test_a_path_on_an_unknown_topology_is_refused_in_one_line_and_two_regions_join_both_networks() -> None:
    from types import SimpleNamespace

    from harness.clients.part import PATH_TOPOLOGIES, ClientsPart, region_networks

    part = ClientsPart.__new__(ClientsPart)
    part.drill = SimpleNamespace()  # type: ignore[assignment]
    assert region_networks(SimpleNamespace(kind="streaming")) == []  # type: ignore[arg-type]
    with pytest.raises(SetupError, match=r"clients.path haproxy: not available on a nosuch topology"):
        part._start_path(SimpleNamespace(kind="nosuch"), ClientsSection(path="haproxy"))  # type: ignore[arg-type]
    assert "pg_auto_failover" in PATH_TOPOLOGIES and "regions" in PATH_TOPOLOGIES
