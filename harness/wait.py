"""The one polling helper every wait goes through.

Timeouts written in features are multiplied by ``HARNESS_TIMEOUT_MULTIPLIER`` (default 1)
so a slow CI machine can stretch every wait without editing scenarios.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

from harness.errors import WaitTimeout

__all__ = ["timeout_multiplier", "wait_until"]

T = TypeVar("T")


def timeout_multiplier() -> float:
    try:
        return max(0.1, float(os.environ.get("HARNESS_TIMEOUT_MULTIPLIER", "1")))
    except ValueError:
        return 1.0


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str,
    describe: Callable[[], str] | None = None,
) -> T:
    """Call ``check`` until it returns a truthy value; return it.

    Exceptions from ``check`` count as "not yet" (the last one is reported on timeout).
    On timeout raise :class:`WaitTimeout` naming ``what`` and the last observed state.
    """
    effective = timeout * timeout_multiplier()
    deadline = time.monotonic() + effective
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - "not yet", reported on timeout
            last_error = exc
        if time.monotonic() >= deadline:
            state = ""
            if describe is not None:
                try:
                    state = f"; last state: {describe()}"
                except Exception as exc:  # noqa: BLE001
                    state = f"; state unknown ({exc})"
            err = f"; last error: {last_error}" if last_error else ""
            raise WaitTimeout(f"timed out after {effective:g} s waiting for {what}{state}{err}")
        time.sleep(interval)
