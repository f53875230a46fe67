"""Client paths: how the probes and the load reach the database (direct, libpq, HAProxy, PgBouncer)."""

from harness.clients.base import PATHS, ClientPath
from harness.clients.part import ClientsPart, default_clients

__all__ = ["PATHS", "ClientPath", "ClientsPart", "default_clients"]
