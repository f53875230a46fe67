"""Conflicts between two clusters that replicate to each other, read from what the servers say.

A subscription's apply worker that meets a row it cannot apply (an INSERT whose key exists
locally) logs the error with the remote transaction's end LSN and stops; the launcher starts
it again after ``wal_retrieve_retry_interval`` and it fails on the same transaction, over and
over, until the row is removed locally or the transaction is skipped. :func:`apply_errors`
reads those errors from a subscriber's log; :func:`differing_keys` compares the two clusters'
rows. Both are pure (the part in :mod:`harness.logical.replica` feeds them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["ApplyError", "apply_errors", "differing_keys", "key_value"]

_LINE = re.compile(r"^.*?\[(?P<pid>\d+)\] (?:\S+@\S+ )?(?P<level>ERROR|DETAIL|CONTEXT|LOG|WARNING|FATAL|STATEMENT):"
                   r"\s+(?P<msg>.*)$")
_CONTEXT = re.compile(r'processing remote data for replication origin "(?P<origin>[^"]+)" during message type '
                      r'"(?P<type>\w+)"(?: for replication target relation "(?P<rel>[^"]+)")?'
                      r"(?: in transaction \d+)?(?:, finished at (?P<lsn>[0-9A-F]+/[0-9A-F]+))?")
_KEY = re.compile(r"Key (?P<key>\(.*?\)=\(.*?\)) already exists")


@dataclass(frozen=True)
class ApplyError:
    """One failed attempt of an apply worker: which origin (``pg_<subscription oid>``), where."""

    origin: str
    relation: str
    message_type: str
    key: str  # "(k)=(3)", or "" when the error names no key
    finish_lsn: str  # "" when the log does not say (a transaction streamed while in progress)
    error: str


def apply_errors(log_text: str) -> list[ApplyError]:
    """Every apply error in a PostgreSQL log, in order (an error is repeated at each retry)."""
    out: list[ApplyError] = []
    pending: dict[str, tuple[str, str]] = {}  # pid -> (error, key)
    for line in log_text.splitlines():
        m = _LINE.match(line)
        if m is None:
            continue
        pid, level, msg = m.group("pid"), m.group("level"), m.group("msg")
        if level == "ERROR":
            pending[pid] = (msg, "")
        elif level == "DETAIL" and pid in pending:
            k = _KEY.search(msg)
            pending[pid] = (pending[pid][0], k.group("key") if k else "")
        elif level == "CONTEXT" and pid in pending:
            c = _CONTEXT.search(msg)
            error, key = pending.pop(pid)
            if c is not None:
                out.append(ApplyError(origin=c.group("origin"), relation=c.group("rel") or "",
                                      message_type=c.group("type"), key=key, finish_lsn=c.group("lsn") or "",
                                      error=error))
        else:
            pending.pop(pid, None)
    return out


def key_value(key: str) -> str:
    """``(k)=(3)`` -> ``3`` (the value as PostgreSQL prints it)."""
    m = re.fullmatch(r"\(.*?\)=\((?P<v>.*)\)", key)
    return m.group("v") if m else key


def differing_keys(a: Mapping[str, object], b: Iterable[tuple[str, object]] | Mapping[str, object]) -> list[str]:
    """The keys whose rows differ between two clusters (present on one side only, or other values)."""
    bm = dict(b.items()) if isinstance(b, Mapping) else dict(b)
    keys = set(a) | set(bm)
    return sorted((k for k in keys if a.get(k) != bm.get(k)), key=lambda k: (len(k), k))
