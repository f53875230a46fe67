"""Stacks (bookworm, trixie), Patroni from PyPI, versions read from the image, take-backs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checkers.takeback import took_back
from harness.environment import load_environment
from harness.errors import EnvironmentFileError, ImageBuildError
from harness.history import Event, FaultEvent, HaView, ProbeOp, Stamp
from harness.images.build import base_tag, known_stacks, load_stack, node_image, stack_of, stack_sources
from harness.images.pypi import pip_specifier
from harness.images.versions import parse_versions, version_tuple


def test_both_stacks_have_their_own_release_postgresql_and_tags() -> None:
    assert {"bookworm", "trixie"} <= set(known_stacks())
    bw, tx = load_stack("bookworm"), load_stack("trixie")
    assert (bw.suite, bw.pg_major, tx.suite, tx.pg_major) == ("bookworm", 15, "trixie", 17)
    assert "postgresql-17" in tx.packages.split() and "postgresql-15" in bw.packages.split()
    for s in (bw, tx):  # pg_auto_failover is on both stacks
        assert {"pg-auto-failover-cli", f"postgresql-{s.pg_major}-auto-failover"} <= set(s.packages.split())
    assert base_tag("bookworm").startswith("pgharness/base:bookworm-")
    assert node_image("trixie").startswith("pgharness/node:trixie-") and node_image("trixie") != node_image()


def test_an_unknown_stack_names_the_known_ones() -> None:
    with pytest.raises(ImageBuildError, match="no stack 'sid'.*bookworm, trixie"):
        load_stack("sid")


def test_the_stack_uses_the_hosts_mirror_with_its_own_suites() -> None:
    host = ("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n\n"
            "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n")
    out = stack_sources(host, "trixie")
    assert "Suites: trixie trixie-updates" in out and "Suites: trixie-security" in out
    assert "http://mirror.example/debian" in out and "bookworm" not in out


def test_the_stack_comes_from_the_file_else_the_matrix_variable(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "e.yaml"
    f.write_text("name: e\n")
    monkeypatch.delenv("HARNESS_STACK", raising=False)
    assert stack_of(load_environment(f)) == "bookworm"
    monkeypatch.setenv("HARNESS_STACK", "trixie")
    assert stack_of(load_environment(f)) == "trixie"
    f.write_text("name: e\nstack: bookworm\n")
    assert stack_of(load_environment(f)) == "bookworm"  # a file that names its stack is pinned


def test_bad_stack_and_patroni_source_name_the_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "e.yaml"
    f.write_text("name: e\nstack: sid\n")
    with pytest.raises(EnvironmentFileError, match=r"e.yaml:2: stack"):
        load_environment(f)
    f.write_text("name: e\npatroni:\n  nodes: 3\n  source: pypi\n")
    with pytest.raises(EnvironmentFileError, match=r"e.yaml:2: patroni: .*source pypi needs a version"):
        load_environment(f)
    f.write_text('name: e\npatroni:\n  source: pypi\n  version: "4.1.x"\n')
    p = load_environment(f).patroni
    assert p is not None and (p.source, p.version) == ("pypi", "4.1.x")


def test_pip_specifiers() -> None:
    assert pip_specifier("4.1.x") == "==4.1.*" == pip_specifier("4.1")
    assert pip_specifier("4.1.3") == "==4.1.3"
    with pytest.raises(ImageBuildError, match="use a release"):
        pip_specifier("latest")


def test_versions_are_parsed_from_the_images_own_answer() -> None:
    text = ("debian=13.8\npg_major=17\npg_bin=/usr/lib/postgresql/17/bin\npostgresql=17.12\npatroni=4.0.7\n"
            "patroni_path=/usr/bin/patroni\npgbackrest=2.55.1\netcd=3.5.16\npg_auto_failover=2.2\npython=3.13.5\n")
    v = parse_versions(text)
    assert v.pg_bin == "/usr/lib/postgresql/17/bin" and v.short()["patroni"] == "4.0.7"
    assert version_tuple(v.patroni) == (4, 0, 7) and version_tuple("17.12 (Debian)") == (17, 12)
    with pytest.raises(ImageBuildError, match="missing"):
        parse_versions("pg_major=15\n")


def st(t: float) -> Stamp:
    return Stamp(t=t, wall=1_700_000_000 + t)


def view(t: float, leader: str | None, **members: tuple[str, str, int]) -> HaView:
    return HaView(at=st(t), leader=leader, members=members)


def freeze(take_back: bool) -> list[Event]:
    """node1 frozen at 10 for 30 s; node2 leads at 31 on timeline 2; at 41 node1 thaws and
    either takes the key back (3.0.2) or rejoins node2 as a replica."""
    r = ("replica", "streaming", 1)
    ev: list[Event] = [
        view(1, "node1", node1=("leader", "running", 1), node2=r, node3=r),
        FaultEvent(at=st(10), began=st(9.9), fault="pause", target="node1", phase="inject"),
        view(30, None, node2=r, node3=r),
        view(31, "node2", node2=("leader", "running", 2), node3=("replica", "streaming", 2)),
        FaultEvent(at=st(40), fault="pause", target="node1", phase="heal"),
    ]
    ev += [ProbeOp(at=st(32 + i / 10), end=st(32.01 + i / 10), probe="fanout", seq=i, node="node2", outcome="ok")
           for i in range(50)]
    if take_back:
        ev.append(view(41, "node1", node1=("leader", "running", 1), node2=("replica", "stopped", 2)))
    else:
        ev.append(view(43, "node2", node1=("replica", "streaming", 2), node2=("leader", "running", 2)))
    return ev


def test_a_take_back_names_the_node_the_time_the_abandoned_timeline_and_the_writes() -> None:
    tb = took_back(freeze(take_back=True))
    assert tb is not None
    assert (tb.old_leader, tb.interim, tb.abandoned_timeline, tb.timeline) == ("node1", "node2", 2, 1)
    assert tb.back_s == 31 and tb.elected_s == 21 and tb.acknowledged_on_abandoned == 50
    text = tb.describe()
    assert "node1 took leadership back at" in text and "timeline 2 of node2 is abandoned" in text
    assert "50 writes acknowledged by node2" in text


def test_a_thawed_leader_that_rejoins_is_no_take_back() -> None:
    assert took_back(freeze(take_back=False)) is None


def test_the_matrix_lists_each_scenario_once_per_stack_with_one_column_each() -> None:
    from rich.console import Console

    from harness.commands.matrix import matrix_summary, matrix_table

    def run(status: str, rto: float) -> dict[str, object]:
        return {"run_id": "r", "scenarios": [{"scenario": "freeze", "status": status, "message": "took it back",
                                              "measurements": {"rto_write_s": rto, "rpo_lost_writes": 3}}]}

    v = {"bookworm": {"postgresql": "15.20", "patroni": "3.0.2"}, "trixie": {"postgresql": "17.12", "patroni": "4.0.7"}}
    s = matrix_summary("r", {"bookworm": run("failed", 32.0), "trixie": run("passed", 21.4)}, v)
    assert [(x["scenario"], x["stack"], x["versions"]["patroni"]) for x in s["scenarios"]] == [
        ("freeze", "bookworm", "3.0.2"), ("freeze", "trixie", "4.0.7")]
    console = Console(width=200, record=True)
    console.print(matrix_table(s, 1.0))
    text = console.export_text()
    assert "Patroni 3.0.2" in text and "Patroni 4.0.7" in text and text.count("freeze") == 1
    assert "failed" in text and "passed" in text and "took it back" in text


def test_the_versions_section_reaches_the_cli_header_and_allures_environment() -> None:
    from harness.result import ScenarioResult
    from harness.stackparts import Versions, allure_environment, versions_caption

    v = Versions(stack="trixie", postgresql="17.12", patroni="4.0.7", pgbackrest="2.55.1", etcd="3.5.16",
                 pg_auto_failover="2.2", image="pgharness/node:trixie-x")
    res = ScenarioResult(feature="f", scenario="s", directory=Path("/tmp/x"), sections={"versions": v})
    scen = res.to_json()
    assert scen["sections"]["versions"]["patroni"] == "4.0.7"
    assert versions_caption([scen, scen]) == "\ntrixie: PostgreSQL 17.12, Patroni 4.0.7, pgBackRest 2.55.1, etcd 3.5.16"
    env = allure_environment([res])
    assert env["trixie.postgresql"] == "17.12" and env["trixie.pgbackrest"] == "2.55.1"


@pytest.mark.parametrize("take_back", [True, False])
def test_the_measurements_say_when_the_old_leader_took_the_lock_back_and_the_ha_table_shows_it(take_back: bool) -> None:
    from harness.checkers.measure import measure
    from harness.report.summary import _HA_HEAD, _ha_rows

    m = measure(freeze(take_back=take_back), probe_interval_s=0.1)
    assert m.ha_took_back_s == (31.0 if take_back else None)
    row = _ha_rows([{"scenario": "freeze", "measurements": m.model_dump()}])[0]
    cell = row[_HA_HEAD.index("old leader took leadership back")]
    assert (cell.startswith("31") if take_back else not cell[:1].isdigit()), cell
