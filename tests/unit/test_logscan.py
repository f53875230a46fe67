"""Counting the servers' logs by level; an unexpected PANIC or a BUG fails the scenario."""

from __future__ import annotations

from harness.logscan import scan_text, summarise, unexpected

PG = """2026-12-01 10:00:00.123 UTC [101] LOG:  database system is ready to accept connections
2026-12-01 10:00:01.000 UTC [120] FATAL:  could not connect to the primary server: 172.18.0.3:5432 refused
2026-12-01 10:00:02.000 UTC [121] FATAL:  could not connect to the primary server: 172.18.0.4:5432 refused
2026-12-01 10:00:03.000 UTC [101] PANIC:  could not write to file "pg_wal/xlogtemp.101": No space left on device
2026-12-01 10:00:04.000 UTC [130] WARNING:  page verification failed, calculated checksum 123 but expected 456
"""
PATRONI = "2026-12-01 10:00:05,000 ERROR: Request to server http://node2:8008 failed\n"
ETCD = "2026-12-01 10:00:06.000000 W | etcdserver: read-only range request took too long (1.2s) to execute\n"


def test_lines_are_counted_by_level_and_messages_masked() -> None:
    found = scan_text("node1", PG)
    assert [lv for lv, _, _ in found] == ["FATAL", "FATAL", "PANIC", "WARNING"]
    assert found[0][1] == found[1][1]  # one message, two addresses
    s = summarise({"node1": PG, "node2": PATRONI, "etcd1": ETCD}, panic_expected=False)
    assert (s.panic, s.fatal, s.error, s.warning, s.bug) == (1, 2, 1, 2, 0)
    assert s.messages[0].level == "PANIC" and "No space left" in s.messages[0].first
    fatal = [m for m in s.messages if m.level == "FATAL"]
    assert len(fatal) == 1 and fatal[0].count == 2 and "172.18.0.3" in fatal[0].first  # the first occurrence


def test_an_unexpected_panic_or_a_bug_fails_and_an_expected_panic_does_not() -> None:
    assert "PANIC" in (unexpected(summarise({"node1": PG}, panic_expected=False)) or "")
    assert unexpected(summarise({"node1": PG}, panic_expected=True)) is None
    bug = summarise({"node2": "2026-12-01 ERROR: BUG: the leader key vanished\n"}, panic_expected=True)
    assert bug.bug == 1 and "BUG" in (unexpected(bug) or "")
    assert unexpected(summarise({"node1": PATRONI + ETCD}, panic_expected=False)) is None
