"""Logical replication between two clusters, without Docker: the log reading, the comparisons,
the checks that fail fast, and a second cluster that will not start (fake runtime)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.drill import Drill
from harness.environment import ENVIRONMENTS_DIR, Environment, LogicalSection, load_environment
from harness.errors import SetupError
from harness.history import ActionEvent, History, LogicalConflict, LogicalLag, now
from harness.logical.conflicts import apply_errors, differing_keys, key_value
from harness.logical.replica import FORWARD, LogicalReplica, check_available, lag_within
from harness.logical.use import describe_env, use_logical
from harness.report.summary import scorecard
from harness.runtime.fake import FakeRuntime
from harness.topology.base import NotAvailable
from harness.topology.roles import Roles

# What PostgreSQL 17 logs when an apply worker meets a key that exists (twice: it is retried),
# with an unrelated error and a table sync worker's error in between.
LOG = """\
2026-12-01 13:56:31.693 UTC [42] ERROR:  duplicate key value violates unique constraint "logical_conflicts_pkey"
2026-12-01 13:56:31.693 UTC [42] DETAIL:  Key (k)=(1) already exists.
2026-12-01 13:56:31.693 UTC [42] CONTEXT:  processing remote data for replication origin "pg_16399" during message \
type "INSERT" for replication target relation "public.logical_conflicts" in transaction 750, finished at 0/1704478
2026-12-01 13:56:31.702 UTC [67] LOG:  logical replication apply worker for subscription "sub_from_first" has started
2026-12-01 13:56:31.800 UTC [70] postgres@postgres ERROR:  relation "nope" does not exist at character 15
2026-12-01 13:56:31.800 UTC [70] postgres@postgres STATEMENT:  SELECT * FROM nope
2026-12-01 13:56:31.940 UTC [67] ERROR:  duplicate key value violates unique constraint "logical_conflicts_pkey"
2026-12-01 13:56:31.940 UTC [67] DETAIL:  Key (k)=(1) already exists.
2026-12-01 13:56:31.940 UTC [67] CONTEXT:  processing remote data for replication origin "pg_16399" during message \
type "INSERT" for replication target relation "public.logical_conflicts" in transaction 750, finished at 0/1704478
2026-12-01 13:56:34.040 UTC [79] ERROR:  duplicate key value violates unique constraint "logical_conflicts_pkey"
2026-12-01 13:56:34.040 UTC [79] DETAIL:  Key (k)=(2) already exists.
2026-12-01 13:56:34.040 UTC [79] CONTEXT:  processing remote data for replication origin "pg_16401" during message \
type "INSERT" for replication target relation "public.logical_conflicts" in transaction 752, finished at 0/17045F0
"""


def test_apply_errors_are_read_from_the_log_with_their_key_and_end() -> None:
    errs = apply_errors(LOG)
    assert [(e.origin, e.key, e.finish_lsn) for e in errs] == [
        ("pg_16399", "(k)=(1)", "0/1704478"), ("pg_16399", "(k)=(1)", "0/1704478"),
        ("pg_16401", "(k)=(2)", "0/17045F0")]
    assert errs[0].relation == "public.logical_conflicts" and errs[0].message_type == "INSERT"
    assert "duplicate key" in errs[0].error
    assert key_value(errs[2].key) == "2"
    assert apply_errors("2026-12-01 [9] ERROR:  something else\n") == []


def test_differing_keys_are_those_missing_or_different_on_one_side() -> None:
    a = {"1": "first", "2": "first", "3": "same", "1001": "first"}
    b = {"1": "second", "2": "first", "3": "same", "2001": "second"}
    assert differing_keys(a, b) == ["1", "1001", "2001"]
    assert differing_keys({}, {}) == []


def _lag(slot: int | None, sub: str = FORWARD) -> LogicalLag:
    return LogicalLag(at=now(), subscription=sub, publisher="node1", subscriber="sub1", slot_lag_bytes=slot)


def test_lag_within_takes_the_first_sample_under_the_bound() -> None:
    samples = [_lag(None), _lag(5_000_000), _lag(2_000_000, "other"), _lag(900_000), _lag(10)]
    found = lag_within(samples, 1 << 20)
    assert found is not None and found.slot_lag_bytes == 900_000
    assert lag_within(samples[:3], 1 << 20) is None  # a missing slot is never "caught up"


@pytest.mark.parametrize(("kind", "mode", "slots", "major", "says"), [
    ("streaming", "bidirectional", False, 15, "not available on PostgreSQL 15: a subscription's origin = none"),
    ("streaming", "one-way", True, 16, "failover slots are not available on PostgreSQL 16"),
    ("patroni", "one-way", False, 17, "not available on a patroni topology: a logical replica cluster"),
])
def test_what_cannot_be_done_is_one_line(kind: str, mode: Any, slots: bool, major: int, says: str) -> None:
    with pytest.raises(NotAvailable) as exc:
        check_available(kind, mode, slots, major)
    assert says in str(exc.value) and "\n" not in str(exc.value)


def test_what_can_be_done_passes() -> None:
    check_available("streaming", "one-way", False, 15)
    check_available("streaming", "bidirectional", True, 17)


def _env(**update: Any) -> Environment:
    return load_environment("streaming").model_copy(update=update)


def test_bidirectional_on_postgresql_15_fails_before_anything_starts(tmp_path: Path) -> None:
    d = Drill("unit", "l1", tmp_path / "d", _env(stack="bookworm"))
    try:
        with pytest.raises(NotAvailable, match="PostgreSQL 15"):
            use_logical(d, "bidirectional")
        assert not d.topology_started and d._runtime is None  # no container was asked for
    finally:
        d.close(settle=False)


def test_a_logical_replica_on_patroni_is_refused_before_it_starts(tmp_path: Path) -> None:
    d = Drill("unit", "l2", tmp_path / "d", load_environment("patroni"))
    try:
        with pytest.raises(NotAvailable, match="not available on a patroni topology"):
            use_logical(d, "one-way")
        assert not d.topology_started
    finally:
        d.close(settle=False)


class _Publisher:
    """The little of a topology the part asks before its own node exists."""

    kind = "streaming"
    names = ["node1", "node2"]

    def __init__(self, runtime: FakeRuntime) -> None:
        self.runtime = runtime
        self.roles = Roles("node1")

    @property
    def primary(self) -> str:
        return "node1"

    def address(self, name: str) -> str:
        return "10.0.0.1"

    def replicas(self) -> list[str]:
        return ["node2"]


def test_a_second_cluster_that_does_not_start_is_one_line_and_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.images.choose.image_for", lambda env, **kw: "img")
    monkeypatch.setattr("harness.workload.load.create_schema", lambda host, accounts=10000: None)
    answers = {"SHOW server_version_num": [(170004,)], "SHOW wal_level": [("logical",)]}
    asked: list[str] = []

    def fake_sql(host: str, query: str, params: tuple[Any, ...] = (), *, timeout: float = 2) -> list[tuple[Any, ...]]:
        asked.append(query)
        if host != "10.0.0.1":
            raise OSError("connection refused")  # the second cluster never answers
        return answers.get(query, [])

    rt = FakeRuntime()
    history = History()
    part = LogicalReplica(_Publisher(rt), _env(), history, run_sql=fake_sql)  # type: ignore[arg-type]
    with pytest.raises(SetupError) as exc:
        part.start(timeout=0.3)
    first = str(exc.value).splitlines()[0]
    assert first.startswith("the logical replica cluster did not start: ") and "sub1" in first
    node = rt.node("sub1")
    assert "kill" in node.calls and not node.is_running()
    assert not any("SUBSCRIPTION" in q for q in asked)  # nothing was subscribed
    failed = [e for e in history.of(ActionEvent) if e.action == "logical.start"]
    assert failed and failed[0].outcome == "failed"


def test_subscription_options_follow_the_mode() -> None:
    rt = FakeRuntime()
    one = LogicalReplica(_Publisher(rt), _env(), History())  # type: ignore[arg-type]
    both = LogicalReplica(_Publisher(rt), _env(), History(), mode="bidirectional", failover_slots=True)  # type: ignore[arg-type]
    assert one.subscription_options(copy_data=True) == "copy_data = true"
    assert both.subscription_options(copy_data=False) == "copy_data = false, origin = none, failover = true"
    assert "connect_timeout=2" in LogicalReplica.conninfo("node1", FORWARD)
    assert " hostaddr=10.0.0.1 " in LogicalReplica.conninfo("node1", FORWARD, hostaddr="10.0.0.1")


def test_env_check_names_the_logical_section() -> None:
    out = CliRunner().invoke(app, ["env", "check", str(ENVIRONMENTS_DIR / "logical.yaml")])
    assert out.exit_code == 0, out.output
    assert "a logical replica cluster subscribed to the primary, PostgreSQL 15" in " ".join(out.output.split())


def test_env_check_refuses_bidirectional_on_postgresql_15(tmp_path: Path) -> None:
    f = tmp_path / "bidi.yaml"
    f.write_text("name: bidi\nstack: bookworm\nlogical:\n  mode: bidirectional\n")
    out = CliRunner().invoke(app, ["env", "check", str(f)])
    assert out.exit_code == 2
    assert f"{f}: logical: two clusters replicating to each other are not available on PostgreSQL 15" in \
        " ".join(out.output.split())
    ok = _env(stack="trixie", logical=LogicalSection(mode="bidirectional", failover_slots=True))
    assert describe_env(ok) == "two clusters replicating to each other (origin = none) with failover slots, PostgreSQL 17"


def test_a_passed_logical_drill_counts_as_a_dr_test() -> None:
    runs = [{"scenario": "lag", "status": "passed", "tags": ["logical"], "violations": [], "measurements": {}}]
    _, crits = scorecard(runs)
    assert {c.name: c.verdict for c in crits}["regular DR tests"] == "met"
    _, crits = scorecard([dict(runs[0], status="failed")])
    assert {c.name: c.verdict for c in crits}["regular DR tests"] == "missed"


def test_conflicts_are_skipped_one_by_one_and_compared_with_the_rows() -> None:
    """Fake servers: each direction's log names one conflict; the harness skips it, and only then
    does that subscription catch up. Key 2 differs without an apply error naming it: unreported."""
    from harness.logical.replica import BACKWARD
    from harness.runtime.fake import FakeNode

    first, second = "10.0.0.1", "10.0.0.9"
    origin = {first: "pg_2", second: "pg_1"}  # sub_from_second lives on the first, sub_from_first on the second
    logs = {second: LOG.replace("pg_16399", "pg_1").replace("pg_16401", "pg_7"),
            first: LOG.replace("pg_16399", "pg_2").replace("pg_16401", "pg_8")}
    skipped: list[tuple[str, str]] = []
    rows_of = {first: [(1, "first"), (2, "first"), (1001, "first")],
               second: [(1, "second"), (1001, "first")]}

    def fake_sql(host: str, query: str, params: tuple[Any, ...] = (), *, timeout: float = 2) -> list[tuple[Any, ...]]:
        if "FROM pg_subscription WHERE" in query:
            return [(origin[host],)]
        if "pg_current_wal_lsn()::text" in query:
            return [("0/100",)]
        if "pg_read_file" in query:
            return [(logs[host] if params[1] == 0 else "",)]
        if query.startswith("ALTER SUBSCRIPTION"):
            skipped.append((host, query))
            return []
        if "confirmed_flush_lsn >=" in query:  # read on the publisher: caught up once its subscriber skipped
            subscriber = second if params[1] == FORWARD else first
            return [(any(h == subscriber for h, _ in skipped),)]
        if "apply_error_count" in query:
            return [(2,)]
        if "FROM logical_conflicts" in query:
            return rows_of[host]
        raise AssertionError(f"unexpected query {query!r}")

    rt = FakeRuntime()
    history = History()
    part = LogicalReplica(_Publisher(rt), _env(), history, mode="bidirectional", run_sql=fake_sql)  # type: ignore[arg-type]
    part.node = FakeNode("sub1", second)
    report = part.resolve_conflicts(timeout=5)
    assert report.caught_up
    assert skipped == [(second, "ALTER SUBSCRIPTION \"sub_from_first\" SKIP (lsn = '0/1704478')"),
                       (first, "ALTER SUBSCRIPTION \"sub_from_second\" SKIP (lsn = '0/1704478')")]  # once each, retries aside
    assert report.by_subscription == {FORWARD: ["1"], BACKWARD: ["1"]}
    assert report.reported_keys == ["1"] and report.differing_keys == ["1", "2"] and report.unreported == ["2"]
    assert report.apply_error_count == {FORWARD: 2, BACKWARD: 2}
    events = history.of(LogicalConflict)
    assert [(e.subscription, e.key, e.resolution) for e in events] == [(FORWARD, "(k)=(1)", "skipped"),
                                                                        (BACKWARD, "(k)=(1)", "skipped")]
    assert part.result_section().conflicts == report


def test_the_environment_step_needs_a_logical_section(tmp_path: Path) -> None:
    from harness.logical.use import use_environment_logical

    d = Drill("unit", "l3", tmp_path / "d", _env())
    try:
        with pytest.raises(SetupError, match="environment streaming has no logical: section"):
            use_environment_logical(d)
        d.use_environment(_env(stack="bookworm", logical=LogicalSection(mode="bidirectional")))
        with pytest.raises(NotAvailable, match="PostgreSQL 15"):
            use_environment_logical(d)
        assert not d.topology_started
    finally:
        d.close(settle=False)
