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


PGBOUNCER = """2026-12-01 13:46:08.207 UTC [6] LOG listening on 0.0.0.0:6432
2026-12-01 13:46:08.353 UTC [6] WARNING C-0x5559b97677b0: (nodb)/postgres@172.24.0.1:48450 pooler error: no such database: nosuchdb
2026-12-01 13:46:09.353 UTC [6] WARNING C-0x5559b97677c8: (nodb)/postgres@172.24.0.1:48452 pooler error: no such database: nosuchdb
2026-12-01 13:46:10.000 UTC [6] WARNING S-0x5559b9768000: postgres/postgres@172.24.0.3:5000 server login failed: timeout
2026-12-01 13:46:11.000 UTC [6] FATAL @src/main.c:941 in function main(): cannot load config file
"""
HAPROXY = """[WARNING]  (11) : Server rw/node1 is DOWN, reason: Layer4 timeout, check duration: 1002ms. 0 active and 0 backup servers left.
Server rw/node1 is DOWN, reason: Layer4 timeout, check duration: 1002ms. 0 active and 0 backup servers left.
[ALERT]    (11) : proxy 'rw' has no server available!
172.24.0.1:35762 [01/Dec/2026:13:46:07.646] stats stats/<STATS> 0/0/0 4321 LR 1/1/0/0/0 0/0
[NOTICE]   (1) : haproxy version is 2.6.12
"""
ETCD35 = ('{"level":"warn","ts":"2026-12-01T10:00:00.000Z","caller":"etcdserver/util.go:166",'
          '"msg":"apply request took too long","took":"1.2s"}\n'
          '{"level":"info","ts":"2026-12-01T10:00:00.000Z","msg":"ready to serve client requests"}\n')


def test_each_programs_levels_map_to_ours() -> None:
    bouncer = scan_text("pgbouncer", PGBOUNCER)
    # The error PgBouncer sends a client is logged at WARNING: counted as ERROR, one message for two clients.
    assert [lv for lv, _, _ in bouncer] == ["ERROR", "ERROR", "WARNING", "FATAL"]
    assert bouncer[0][1] == bouncer[1][1] and "no such database" in bouncer[0][1]
    proxy = scan_text("haproxy", HAPROXY)
    assert [lv for lv, _, _ in proxy] == ["WARNING", "FATAL"]  # the levelless traffic and NOTICE lines are not
    assert "Server rw/node1 is DOWN" in proxy[0][1]
    assert [(lv, msg) for lv, msg, _ in scan_text("etcd1", ETCD35)] == [("WARNING", "apply request took too long")]
    assert scan_text("haproxy", "PANIC! Thread 1 is about to kill the process.\n")[0][0] == "PANIC"
    s = summarise({"pgbouncer": PGBOUNCER, "haproxy": HAPROXY}, panic_expected=False)
    assert (s.panic, s.fatal, s.error, s.warning) == (0, 2, 2, 2)
    assert unexpected(s) is None
