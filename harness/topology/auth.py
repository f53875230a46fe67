"""Password authentication for the harness's own connections (an environment's ``auth:``).

The harness connects from the host, through the bridge's gateway address. With ``auth`` that
address must authenticate with SCRAM-SHA-256 as ``postgres``; connections between the nodes
(replication, pg_basebackup, pg_rewind) stay as they were, inside the run's private network.
The password reaches libpq through ``PGPASSWORD`` in the harness's own environment (and so
its children: locust), never through a connection string, a container's environment or a
command line; the server is given only its SCRAM verifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as _random

import psycopg

from harness import secrets
from harness.errors import SetupError
from harness.topology.pg import conninfo, sql
from harness.topology.base import ManagedPostgres, Topology, need
from harness.topology.streaming import PGDATA

__all__ = ["password_from_environment", "require_password", "scram_verifier"]


def password_from_environment(variable: str) -> str:
    value = os.environ.get(variable, "")
    if not value:
        raise SetupError(f"the environment's auth.password_env names ${variable}, which is not set (or empty)")
    secrets.register(value)
    return value


def scram_verifier(password: str, *, iterations: int = 4096, salt: bytes | None = None) -> str:
    """The verifier PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802/7677)."""
    salt = salt or _random.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return (f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}"
            f"${b64(stored_key).decode()}:{b64(server_key).decode()}")


def require_password(cluster: Topology, password: str) -> None:
    """Give ``postgres`` the password and make every node demand it from the host."""
    need(cluster, ManagedPostgres, "auth: a password for the harness's connections (pg_hba of the streaming nodes)")
    primary = cluster.address(cluster.primary)
    sql(primary, "ALTER ROLE postgres PASSWORD %s" % psycopg.sql.quote(scram_verifier(password)))
    for node in cluster.nodes():
        # The gateway is where the host's connections come from; the rule goes first, as pg_hba
        # takes the first line that matches (the image's trust lines follow it).
        script = ("gw=$(ip -4 route show default | awk '{print $3; exit}') && [ -n \"$gw\" ] "
                  f"&& sed -i \"1i host all all $gw/32 scram-sha-256\" {PGDATA}/pg_hba.conf "
                  f"&& pg_ctl -D {PGDATA} reload >/dev/null")
        res = node.exec(["sh", "-c", script])
        if res.exit_code != 0:
            raise SetupError(f"{node.name}: could not require a password: {res.output[-300:]}")
    # Proof that the rule holds: the host without the password is refused, with it let in.
    for name in cluster.names:
        try:
            psycopg.connect(conninfo(cluster.address(name)), password="not-the-password").close()
        except psycopg.OperationalError as exc:
            if "password authentication failed" not in str(exc):
                raise SetupError(f"{name}: unexpected answer to a wrong password: {exc}") from exc
        else:
            raise SetupError(f"{name}: still lets the host in without its password")
    os.environ["PGPASSWORD"] = password
    sql(primary, "SELECT 1")
