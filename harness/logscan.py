"""The servers' logs of a scenario: collected, counted by level, first occurrence of each message.

A drill part (:class:`LogScan`, section ``logs``). When the drill closes, before the
topology is removed, it copies the log folder of every container of the run
(``/var/log/postgresql``: PostgreSQL's, Patroni's and etcd's logs; a stopped or killed
container's files are copied too) and each container's own output (HAProxy and PgBouncer
write theirs there: the client path's containers) into the scenario's ``logs/`` folder, then
counts the lines by level (PANIC, FATAL, ERROR, WARNING) and keeps the first occurrence of
each message (numbers, addresses and times masked, so "could not connect to 172.18.0.3" and
"... 172.18.0.4" are one message). Each program says its level its own way (:data:`DIALECTS`):

- PostgreSQL ``LEVEL:`` and Patroni (Python logging) ``LEVEL:``: as they say;
- etcd 3.4 ``C |`` / ``E |`` / ``W |``: FATAL, ERROR, WARNING; etcd 3.5 JSON ``"level"``:
  panic and dpanic PANIC, fatal FATAL, error ERROR, warn WARNING;
- PgBouncer ``[pid] FATAL|ERROR|WARNING``: as it says, except that PgBouncer logs an error it
  sends a client ("pooler error: no such database") at WARNING: that counts as ERROR;
- HAProxy's messages (``[EMERG]``, ``[ALERT]``, ``[WARNING]``): EMERG and ALERT count as
  FATAL (a listener without a server, a configuration refused: the service is gone, no
  crash), WARNING as WARNING ("Server rw/node1 is DOWN"); its watchdog's ``PANIC!`` is a PANIC.
  Its traffic log lines carry no level and are not counted.

A PANIC, or a line saying "BUG" (as Patroni's acceptance suite does), fails the scenario
unless it says ``Given PANIC in the logs is expected`` (:func:`unexpected`).
"""

from __future__ import annotations

import io
import logging
import re
import tarfile
from pathlib import Path
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Literal

import docker.errors
from pydantic import BaseModel, ConfigDict

from harness.secrets import redact

if TYPE_CHECKING:
    from harness.drill import Drill

__all__ = ["DIALECTS", "LEVELS", "LogMessage", "LogScan", "LogSummary", "scan_text", "unexpected"]

log = logging.getLogger(__name__)

Level = Literal["PANIC", "FATAL", "ERROR", "WARNING", "BUG"]
LEVELS: tuple[Level, ...] = ("PANIC", "FATAL", "ERROR", "WARNING")
LOG_FOLDER = "/var/log/postgresql"
_BUG = re.compile(r"\bBUG\b")
# Pointers (PgBouncer's C-0x...) before numbers, so that one pointer is one mask.
_MASK = re.compile(r"0x[0-9a-f]+|\b\d+(?:[.:/-]\d+)*\b|\"[^\"]*\"")


def _fixed(level: Level) -> Callable[[re.Match[str]], Level]:
    return lambda m: level


def _named(table: dict[str, Level]) -> Callable[[re.Match[str]], Level]:
    return lambda m: table[m.group(1)]


def _pgbouncer(m: re.Match[str]) -> Level:
    said: Level = m.group(1)  # type: ignore[assignment]
    return "ERROR" if said == "WARNING" and "pooler error:" in m.group(2) else said


# (program, pattern: group 2 is the message, how its level maps to ours); the first match wins.
DIALECTS: tuple[tuple[str, re.Pattern[str], Callable[[re.Match[str]], Level]], ...] = (
    ("postgresql/patroni", re.compile(r"\b(PANIC|FATAL|ERROR|WARNING):\s+(.*)$"), _named(
        {"PANIC": "PANIC", "FATAL": "FATAL", "ERROR": "ERROR", "WARNING": "WARNING"})),
    ("pgbouncer", re.compile(r"\[\d+\] (FATAL|ERROR|WARNING) (.*)$"), _pgbouncer),
    ("haproxy", re.compile(r"^\[(EMERG|ALERT|WARNING)\]\s+\(\d+\)\s*:\s*(.*)$"), _named(
        {"EMERG": "FATAL", "ALERT": "FATAL", "WARNING": "WARNING"})),
    ("haproxy", re.compile(r"^(PANIC)! (.*)$"), _fixed("PANIC")),
    ("etcd 3.4", re.compile(r"\s([CEW]) \| (.*)$"), _named({"C": "FATAL", "E": "ERROR", "W": "WARNING"})),
    ("etcd 3.5", re.compile(r'^\{"level":"(warn|error|dpanic|panic|fatal)".*?"msg":"((?:[^"\\]|\\.)*)"'), _named(
        {"warn": "WARNING", "error": "ERROR", "dpanic": "PANIC", "panic": "PANIC", "fatal": "FATAL"})),
)


class LogMessage(BaseModel):
    model_config = ConfigDict(frozen=True)
    level: Level
    node: str
    count: int
    first: str  # the first line saying it


class LogSummary(BaseModel):
    model_config = ConfigDict(frozen=True)
    panic: int
    fatal: int
    error: int
    warning: int
    bug: int
    panic_expected: bool
    messages: list[LogMessage]  # most severe first, at most 40


def scan_text(node: str, text: str) -> list[tuple[Level, str, str]]:
    """(level, masked message, line) of every line of ``text`` at WARNING or above, or saying BUG."""
    out: list[tuple[Level, str, str]] = []
    for line in text.splitlines():
        level: Level | None = None
        message = ""
        for _, pattern, level_of in DIALECTS:
            m = pattern.search(line)
            if m is not None:
                level, message = level_of(m), m.group(2)
                break
        if _BUG.search(line):
            out.append(("BUG", _MASK.sub("#", line.strip())[:200], line.strip()[:500]))
        if level is not None:
            out.append((level, _MASK.sub("#", message.strip())[:200], line.strip()[:500]))
    return out


def summarise(texts: dict[str, str], panic_expected: bool) -> LogSummary:
    counts: dict[str, int] = {}
    seen: dict[tuple[str, str, str], list[str | int]] = {}
    for node, text in texts.items():
        for level, key, line in scan_text(node, text):
            counts[level] = counts.get(level, 0) + 1
            entry = seen.setdefault((level, node, key), [line, 0])
            entry[1] = int(entry[1]) + 1
    order = {lv: i for i, lv in enumerate(("BUG", *LEVELS))}
    msgs = [LogMessage(level=lv, node=node, count=int(v[1]), first=str(v[0]))  # type: ignore[arg-type]
            for (lv, node, _), v in seen.items()]
    msgs.sort(key=lambda m: (order[m.level], -m.count))
    return LogSummary(panic=counts.get("PANIC", 0), fatal=counts.get("FATAL", 0), error=counts.get("ERROR", 0),
                      warning=counts.get("WARNING", 0), bug=counts.get("BUG", 0), panic_expected=panic_expected,
                      messages=msgs[:40])


def unexpected(summary: LogSummary) -> str | None:
    """Why the logs fail the scenario (an unexpected PANIC or a BUG), or None."""
    first = {m.level: m for m in reversed(summary.messages)}
    if summary.bug:
        return f"{summary.bug} log line(s) say BUG, first on {first['BUG'].node}: {first['BUG'].first}"
    if summary.panic and not summary.panic_expected:
        p = first.get("PANIC")
        where = f", first on {p.node}: {p.first}" if p is not None else ""
        return f"{summary.panic} PANIC(s) in the server logs{where} (say 'Given PANIC in the logs is expected')"
    return None


def _read_folder(container: object, folder: str) -> dict[str, str]:
    """Every file of ``folder`` in a container, running or not (docker cp)."""
    try:
        stream, _ = container.get_archive(folder)  # type: ignore[attr-defined]
    except docker.errors.APIError:
        return {}
    data = io.BytesIO(b"".join(stream))
    out: dict[str, str] = {}
    with tarfile.open(fileobj=data) as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member) if member.isfile() else None
            if f is not None:
                out[Path(member.name).name] = f.read().decode(errors="replace")
    return out


class LogScan:
    """Collects and counts the run's container logs when the drill closes."""

    section = "logs"

    def __init__(self) -> None:
        self.panic_expected = False
        self.summary: LogSummary | None = None
        self.report = ""  # the text attached to the report
        self._drill: Drill | None = None

    @classmethod
    def for_drill(cls, drill: Drill) -> LogScan:
        scan = cls()
        scan._drill = drill
        return scan

    def __enter__(self) -> LogScan:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        from harness.runtime.docker import DockerRuntime

        d = self._drill
        if d is None or self.summary is not None or not d.topology_started:
            return
        runtime = d.cluster.runtime
        if not isinstance(runtime, DockerRuntime):
            return
        folder = d.directory / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        texts: dict[str, str] = {}
        for node in runtime.nodes():
            parts = []
            for name, text in sorted(_read_folder(node.container, LOG_FOLDER).items()):
                text = redact(text)
                (folder / f"{node.name}-{name}").write_text(text)
                parts.append(text)
            try:
                out: bytes = node.container.logs()
            except docker.errors.APIError:  # removed already: its folder, if any, was read above
                out = b""
            if out:
                text = redact(out.decode(errors="replace"))
                (folder / f"{node.name}-output.log").write_text(text)
                parts.append(text)
            texts[node.name] = "\n".join(parts)
        self.summary = summarise(texts, self.panic_expected)
        s = self.summary
        lines = [f"PANIC {s.panic}, FATAL {s.fatal}, ERROR {s.error}, WARNING {s.warning}, BUG {s.bug}"
                 + (" (PANIC expected)" if s.panic_expected else ""), ""]
        lines += [f"{m.level:7} x{m.count:<4} {m.node}: {m.first}" for m in s.messages]
        self.report = "\n".join(lines) + "\n"
        (folder / "summary.txt").write_text(self.report)

    def result_section(self) -> LogSummary | None:
        if self.summary is None:
            return None
        # The five most severe messages; all of them are in logs/summary.txt and in Allure.
        return self.summary.model_copy(update={"messages": self.summary.messages[:5]})
