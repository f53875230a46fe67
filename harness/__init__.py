"""Chaos and disaster-recovery testing harness for replicated PostgreSQL.

The public surface is small: environments are loaded with :func:`load_environment`,
a run's events live in a :class:`History`, numbers come from :mod:`harness.checkers`.
"""

from harness.errors import HarnessError, TargetMissed

__all__ = ["HarnessError", "TargetMissed", "__version__"]
__version__ = "0.1.0"
