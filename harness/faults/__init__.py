"""The nemesis: faults with inject and heal, chosen by role at injection time."""

from harness.faults.base import Fault, FaultSet
from harness.faults.process import KillNode, KillPostmaster, StopPostgres

__all__ = ["Fault", "FaultSet", "KillNode", "KillPostmaster", "StopPostgres"]
