"""Secrets never reach a report: every text the harness writes for people goes through ``redact``.

The harness itself holds one kind of secret, the database password of an environment with
``auth:`` (read from an environment variable the file names, never from the file). It is
registered here when read; ``redact`` masks every registered secret, and also anything that
looks like a password in a connection string (``password=…``, ``postgresql://user:…@``,
``PGPASSWORD=…``), wherever it came from (a node's log, an error message, a command line).
"""

from __future__ import annotations

import re

__all__ = ["MASK", "register", "redact"]

MASK = "********"
_SECRETS: set[str] = set()
_PATTERNS = [
    re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.IGNORECASE),
    re.compile(r"(\bpostgres(?:ql)?://[^:/@\s]+:)([^@\s]+)(?=@)", re.IGNORECASE),
    re.compile(r"(\bPGPASSWORD\s*[=:]\s*)(\S+)"),
]


def register(secret: str) -> None:
    """Remember a secret so that every later ``redact`` masks it (short ones are refused: a
    three-letter password would mask ordinary words in every log)."""
    if len(secret) < 6:
        raise ValueError("a secret shorter than 6 characters cannot be masked reliably; use a longer password")
    _SECRETS.add(secret)


def redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text
