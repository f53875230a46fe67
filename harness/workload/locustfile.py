# mypy: ignore-errors
"""Background load for a drill: a locust file run in its own process by :mod:`harness.workload.load`.

Profiles: ``read-heavy`` (9 reads to 1 write), ``write-heavy`` (1 to 9) and ``mixed`` (pgbench's
TPC-B-like transaction next to point reads), on pgbench-like tables the harness creates. Users
follow the primary through an endpoint file the harness rewrites on failover. Every request's
latency goes, bucketed per second, to a JSON-lines file that the harness reads into the history.
"""

import locust  # noqa: F401  - first: gevent patches the standard library before psycopg loads

import json
import os
import random
import time
from collections import defaultdict

import gevent
import psycopg
from locust import User, constant_throughput, events, task

ENDPOINT_FILE = os.environ.get("HARNESS_LOAD_ENDPOINT", "")
OUT = os.environ.get("HARNESS_LOAD_OUT", "")
PROFILE = os.environ.get("HARNESS_LOAD_PROFILE", "mixed")
ACCOUNTS = int(os.environ.get("HARNESS_LOAD_ACCOUNTS", "10000"))
RATE = float(os.environ.get("HARNESS_LOAD_USER_RATE", "5"))  # transactions per second per user, at most
_WEIGHTS = {"read-heavy": (9, 1), "write-heavy": (1, 9), "mixed": (1, 1)}

_buckets: dict[tuple[int, str], dict] = defaultdict(lambda: {"count": 0, "failures": 0, "req": [], "errors": {}})


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception=None, **kw):  # type: ignore[no-untyped-def]
    # Bucketed by when the request STARTED, so a slow request belongs to the moment it was sent.
    started = time.time() - response_time / 1000
    b = _buckets[(int(started), name)]
    b["count"] += 1
    b["req"].append([round(started % 1, 4), round(response_time, 2), 0 if exception is not None else 1])
    if exception is not None:
        b["failures"] += 1
        msg = str(exception).strip().splitlines()[0][:120] if str(exception).strip() else type(exception).__name__
        b["errors"][msg] = b["errors"].get(msg, 0) + 1


def _flush(final: bool = False) -> None:
    if not OUT:
        return
    now = int(time.time())
    done = [k for k in list(_buckets) if final or k[0] < now - 6]  # a request lasts at most ~5 s
    if not done:
        return
    with open(OUT, "a", encoding="utf-8") as f:
        for key in sorted(done):
            b = _buckets.pop(key)
            f.write(json.dumps({"wall": key[0], "name": key[1], **b}) + "\n")


def _flusher() -> None:
    while True:
        gevent.sleep(0.5)
        _flush()


@events.init.add_listener
def _start_flusher(environment, **kw):  # type: ignore[no-untyped-def]
    gevent.spawn(_flusher)


@events.quitting.add_listener
def _final_flush(environment, **kw):  # type: ignore[no-untyped-def]
    _flush(final=True)


def _endpoint() -> str:
    with open(ENDPOINT_FILE, encoding="utf-8") as f:
        return f.read().strip()


class PostgresUser(User):
    wait_time = constant_throughput(RATE)
    # Weights from environments/load/profiles.yaml, passed by the harness.
    reads = int(os.environ.get("HARNESS_LOAD_READS", _WEIGHTS.get(PROFILE, (1, 1))[0]))
    writes = int(os.environ.get("HARNESS_LOAD_WRITES", _WEIGHTS.get(PROFILE, (1, 1))[1]))

    def on_start(self) -> None:
        self.conn = None
        self.at = ""

    def _connection(self):  # type: ignore[no-untyped-def]
        ep = _endpoint()
        if self.conn is None or self.conn.closed or ep != self.at:
            self._drop()
            if "=" in ep:  # a client path's connection string (HAProxy, PgBouncer, libpq multi-host)
                self.conn = psycopg.connect(ep, autocommit=True, prepare_threshold=None)
            else:
                host, _, port = ep.partition(":")
                self.conn = psycopg.connect(host=host, port=int(port or 5432), user="postgres", dbname="postgres",
                                            connect_timeout=2, autocommit=True, application_name="pgharness-load")
            self.at = ep
        return self.conn

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001
                pass
        self.conn = None

    def _timed(self, name, body):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        exc = None
        try:
            with gevent.Timeout(5):
                body(self._connection())
        except BaseException as e:  # noqa: BLE001 - every failure is a recorded request, never a crash
            if isinstance(e, (KeyboardInterrupt, SystemExit, gevent.GreenletExit)):
                raise
            exc = e
            self._drop()
        events.request.fire(request_type="pg", name=name, response_time=(time.perf_counter() - t0) * 1000,
                            response_length=0, exception=exc, context={})

    @task(reads)
    def read(self) -> None:
        aid = random.randint(1, ACCOUNTS)
        self._timed("read", lambda c: c.execute("SELECT abalance FROM pgbench_accounts WHERE aid = %s",
                                                (aid,)).fetchone())

    @task(writes)
    def write(self) -> None:
        aid, delta = random.randint(1, ACCOUNTS), random.randint(-5000, 5000)

        def tpcb(c) -> None:  # type: ignore[no-untyped-def]
            with c.transaction():
                c.execute("UPDATE pgbench_accounts SET abalance = abalance + %s WHERE aid = %s", (delta, aid))
                c.execute("INSERT INTO pgbench_history (aid, delta, mtime) VALUES (%s, %s, now())", (aid, delta))

        self._timed("write", tpcb)
