"""Client paths: how the probes and the load reach the database (direct, libpq, HAProxy, PgBouncer)."""

from harness.clients.base import PATHS, ServicePath
from harness.clients.part import ClientsPart, default_clients

__all__ = ["PATHS", "ClientsPart", "ServicePath", "default_clients"]
