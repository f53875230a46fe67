"""The servers' logs of a scenario: collected, counted by level, first occurrence of each message.

A drill part (:class:`LogScan`, section ``logs``). When the drill closes, before the
topology is removed, it copies the log folder of every container of the run
(``/var/log/postgresql``: PostgreSQL's, Patroni's and etcd's logs; a stopped or killed
container's files are copied too) and each container's own output into the scenario's
``logs/`` folder, then counts the lines by level (PANIC, FATAL, ERROR, WARNING: PostgreSQL's
``LEVEL:`` prefix, Python logging's ``LEVEL:`` in Patroni's, etcd's one-letter ``E |`` /
``W |`` / ``C |``), and keeps the first occurrence of each message (numbers, addresses and
times masked, so "could not connect to 172.18.0.3" and "... 172.18.0.4" are one message).

A PANIC, or a line saying "BUG" (as Patroni's acceptance suite does), fails the scenario
unless it says ``Given PANIC in the logs is expected`` (:func:`unexpected`).
"""

from __future__ import annotations

import io
import logging
import re
import tarfile
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal

import docker.errors
from pydantic import BaseModel, ConfigDict

from harness.secrets import redact

if TYPE_CHECKING:
    from harness.drill import Drill

__all__ = ["LEVELS", "LogMessage", "LogScan", "LogSummary", "scan_text", "unexpected"]

log = logging.getLogger(__name__)

Level = Literal["PANIC", "FATAL", "ERROR", "WARNING", "BUG"]
LEVELS: tuple[Level, ...] = ("PANIC", "FATAL", "ERROR", "WARNING")
LOG_FOLDER = "/var/log/postgresql"
_PG = re.compile(r"\b(PANIC|FATAL|ERROR|WARNING):\s+(.*)$")
_ETCD = re.compile(r"\s([CEW]) \| (.*)$")
_ETCD_LEVEL: dict[str, Level] = {"C": "FATAL", "E": "ERROR", "W": "WARNING"}
_BUG = re.compile(r"\bBUG\b")
_MASK = re.compile(r"\b\d+(?:[.:/-]\d+)*\b|0x[0-9a-f]+|\"[^\"]*\"")


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
        m = _PG.search(line)
        if m is not None:
            level, message = m.group(1), m.group(2)  # type: ignore[assignment]
        else:
            e = _ETCD.search(line)
            if e is not None:
                level, message = _ETCD_LEVEL[e.group(1)], e.group(2)
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
                parts.append(redact(out.decode(errors="replace")))
            except docker.errors.APIError:
                pass
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
