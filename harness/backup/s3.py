"""An S3 repository for pgBackRest (``repo1-type=s3``): the run's own endpoint, or a real one.

The run's own endpoint is one container, ``s3``, on the run's network (image
``environments/images/s3``): moto's S3 server (PyPI) on loopback behind HAProxy, which
terminates TLS on 443 with a certificate made for this run (:func:`make_tls`: a throwaway CA
and a server certificate for the name ``s3``). pgBackRest verifies it with
``repo1-storage-ca-file`` (the CA is written into the run's repository folder, mounted in
every node), addresses the bucket path-style (``https://s3/<bucket>/...``) and signs with
dummy keys (moto checks no signature). moto keeps everything in memory, so the endpoint is
never restarted during a drill: "down" cuts its link, it is not a stop.

A real S3 or MinIO comes from the environment file (``backup.s3``): endpoint, bucket,
region, URI style, and the names of the environment variables that hold the keys; the keys
are registered with :mod:`harness.secrets` (masked wherever text reaches people) and go only
into the nodes' pgbackrest.conf. Nothing but the named endpoint is contacted, and only by
pgBackRest itself, from the nodes.

Faults on the run's endpoint, each a :class:`~harness.faults.base.Fault`:

- :class:`EndpointDown`: a private nft table in the endpoint's namespace answers every new
  connection to 443 with a TCP reset (a server that is gone); heal deletes the table.
- :class:`EndpointFrozen`: the container paused (``docker pause``): connections hang.
- :class:`EndpointSlow`: the network faults' NFQUEUE delayer on the endpoint's egress.
- :class:`EndpointErrors`: HAProxy answers ``503 SlowDown`` to a share of requests (an ACL
  of ``rand(100)`` ranges changed through its runtime API, no reload).
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import secrets
from harness.environment import BackupSection, S3Settings
from harness.errors import HarnessError, SetupError, WaitTimeout
from harness.faults.network import Delay
from harness.images.build import MOTO_REQUIREMENT, s3_image
from harness.net.netns import NetNS, NodeDown, RunNetwork, require_tools
from harness.net.rules import table_name
from harness.runtime.docker import DockerNode, DockerRuntime
from harness.secrets import redact
from harness.topology.base import Topology
from harness.wait import wait_until

__all__ = [
    "ENDPOINT_NAME",
    "EndpointDown",
    "EndpointErrors",
    "EndpointFrozen",
    "EndpointSlow",
    "S3Endpoint",
    "S3Repo",
    "TlsFiles",
    "describe_environment",
    "external_repo",
    "haproxy_s3_config",
    "local_repo_lines",
    "make_tls",
    "s3_repo_lines",
]

ENDPOINT_NAME = "s3"  # the container's name and DNS alias on the run's network
PORT = 443
BUCKET = "pgharness"
REGION = "us-east-1"
CA_NAME = "s3-ca.crt"  # in the repository folder (mounted at REPO_PATH in every node)
ADMIN_SOCKET = "/run/haproxy-admin.sock"
FAIL_ACL = "/etc/haproxy/fail.acl"
# moto verifies no signature; these are not secrets, only the form pgBackRest requires.
LOCAL_KEY = "harness-local-key"
LOCAL_SECRET = "harness-local-secret-not-a-secret"
_SLOWDOWN = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"


# -- TLS: a CA and a server certificate per run --------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    ca_pem: str  # the CA certificate: what pgBackRest verifies the endpoint with
    server_pem: str  # the server certificate and its key, for HAProxy


def make_tls(name: str = ENDPOINT_NAME, days: int = 2) -> TlsFiles:
    """A throwaway CA and a certificate for ``name`` signed by it (openssl; the CA key is discarded)."""
    if shutil.which("openssl") is None:
        raise SetupError("`openssl` is not installed on this host (Debian package openssl)")
    with tempfile.TemporaryDirectory(prefix="pgharness-tls-") as tmp:
        d = Path(tmp)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        steps = [
            ["openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", str(days),
             "-subj", "/CN=pgharness run CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["openssl", "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={name}"],
            ["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", str(days), "-extfile", "ext.cnf"],
        ]
        (d / "ext.cnf").write_text(f"subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth\n"
                                   "basicConstraints=CA:FALSE\n")
        for cmd in steps:
            res = subprocess.run(cmd, cwd=d, capture_output=True, text=True, timeout=30)
            if res.returncode != 0:
                raise SetupError(f"making the S3 endpoint's certificate failed: {' '.join(cmd[:3])}: "
                                 f"{res.stderr.strip()[-400:]}")
        return TlsFiles(ca_pem=(d / "ca.crt").read_text(),
                        server_pem=(d / "server.crt").read_text() + (d / "server.key").read_text())


# -- pgBackRest's repository options ------------------------------------------------------------


@dataclass(frozen=True)
class S3Repo:
    """Where pgBackRest's repo1 is: what the report may show (no keys)."""

    endpoint: str
    port: int
    bucket: str
    region: str
    uri_style: str
    path: str
    local: bool  # the run's own endpoint (moto) rather than one the environment names

    def describe(self) -> str:
        who = f"the run's own endpoint ({MOTO_REQUIREMENT} behind HAProxy, TLS by a per-run CA)" if self.local \
            else "the environment's endpoint"
        return f"s3://{self.bucket}{self.path} at {self.endpoint}:{self.port} ({self.uri_style}-style) on {who}"


def s3_repo_lines(repo: S3Repo, key: str, secret: str, ca_file: str | None, *, io_timeout_s: int = 15) -> str:
    """The ``[global]`` lines of repo1 for ``repo``; ``ca_file`` is a path inside the nodes.

    ``io_timeout_s``: pgBackRest retries a refused connection for about four times this long
    before a command fails (5 s: 20.7 s measured here against a resetting endpoint)."""
    lines = [
        "repo1-type=s3",
        f"repo1-path={repo.path}",
        f"repo1-s3-bucket={repo.bucket}",
        f"repo1-s3-endpoint={repo.endpoint}",
        f"repo1-s3-region={repo.region}",
        f"repo1-s3-uri-style={repo.uri_style}",
        f"repo1-storage-port={repo.port}",
        f"repo1-s3-key={key}",
        f"repo1-s3-key-secret={secret}",
        # A failing endpoint fails a command within seconds, not after pgBackRest's default minute (x4).
        f"io-timeout={io_timeout_s}",
        # Small files bundled into a few objects: one request each costs more on S3 than the bytes.
        "repo1-bundle=y",
        "process-max=2",
    ]
    if ca_file:
        lines.append(f"repo1-storage-ca-file={ca_file}")
    return "\n".join(lines) + "\n"


def local_repo_lines(ca_file: str, path: str = "/repo") -> tuple[S3Repo, str]:
    repo = S3Repo(ENDPOINT_NAME, PORT, BUCKET, REGION, "path", path, local=True)
    return repo, s3_repo_lines(repo, LOCAL_KEY, LOCAL_SECRET, ca_file, io_timeout_s=5)  # a server next door


def describe_environment(backup: BackupSection) -> str | None:
    """What ``harness env check`` says about an S3 repository (None for a folder one); names the
    credentials' variables and whether they are set, never their values."""
    if backup.repository != "s3":
        return None
    cfg = backup.s3
    if cfg is None:
        return f"backups in S3 on the run's own endpoint ({MOTO_REQUIREMENT}, TLS)"
    state = ", ".join(f"${v} {'set' if os.environ.get(v) else 'NOT SET'}" for v in (cfg.key_env, cfg.secret_env))
    return f"backups in s3://{cfg.bucket}{cfg.path} at {cfg.endpoint}:{cfg.port} ({cfg.uri_style}-style; {state})"


def external_repo(cfg: S3Settings, run_id: str, scope: str, ca_file: str | None) -> tuple[S3Repo, str]:
    """The environment's endpoint: the keys read from the variables it names (one line if unset)."""
    missing = [v for v in (cfg.key_env, cfg.secret_env) if not os.environ.get(v)]
    if missing:
        raise SetupError(f"backup.s3 names {', '.join('$' + v for v in missing)} for the S3 credentials, "
                         "which is not set (or empty)")
    key, secret = os.environ[cfg.key_env], os.environ[cfg.secret_env]
    for value in (key, secret):
        secrets.register(value)
    path = f"{cfg.path.rstrip('/')}/{run_id}/{scope}"
    repo = S3Repo(cfg.endpoint, cfg.port, cfg.bucket, cfg.region, cfg.uri_style, path, local=False)
    return repo, s3_repo_lines(repo, key, secret, ca_file)


# -- the run's own endpoint ---------------------------------------------------------------------


def haproxy_s3_config() -> str:
    """HAProxy in the endpoint: TLS on 443 to moto on loopback; 503 to the share in ``fail.acl``."""
    return "\n".join([
        "global",
        "    maxconn 500",
        f"    stats socket {ADMIN_SOCKET} mode 600 level admin",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 5m",
        "    timeout server 5m",
        "frontend s3",
        f"    bind *:{PORT} ssl crt /etc/s3/server.pem",
        # rand(100) is 0..99; the ACL file holds ranges ("0:29" = 30 %), empty = no errors.
        f"    acl injected_error rand(100) -m int -f {FAIL_ACL}",
        f'    http-request return status 503 content-type application/xml string "{_SLOWDOWN}" if injected_error',
        "    default_backend moto",
        "backend moto",
        "    server moto 127.0.0.1:5000",
    ]) + "\n"


class S3Endpoint:
    """The ``s3`` container of a run: started, checked over TLS from the host, its bucket made."""

    def __init__(self, runtime: DockerRuntime, tls: TlsFiles, *, start_timeout: float = 60) -> None:
        self.runtime, self.tls = runtime, tls
        self.node: DockerNode | None = None
        self.start_timeout = start_timeout

    def start(self, bucket: str = BUCKET) -> DockerNode:
        """Start the endpoint and create ``bucket``; a server that will not start is one line, removed."""
        node = self.runtime.create_node(
            ENDPOINT_NAME, image=s3_image(), command=["/usr/local/bin/s3-init"],
            env={"HARNESS_SERVICE": "s3", "HARNESS_TLS_PEM": self.tls.server_pem,
                 "HARNESS_CONFIG": haproxy_s3_config()})
        self.node = node

        def up() -> str | None:
            if not node.is_running():
                return "exited"
            try:
                return "ready" if self.request("GET", "/")[0] == 200 else None
            except OSError:
                return None

        try:
            got = wait_until(up, timeout=self.start_timeout, interval=0.2, what="the S3 endpoint to answer over TLS")
            if got == "exited":
                raise SetupError("exited at start")
            status, body = self.request("PUT", f"/{bucket}")
            if status != 200:
                raise SetupError(f"creating bucket {bucket} answered {status}: {body[:200]}")
        except (SetupError, WaitTimeout) as exc:
            log = self.log()
            self.remove()
            raise SetupError(f"the S3 endpoint ({s3_image()}) did not start: {exc}; its log:\n{log}") from exc
        return node

    def log(self, tail: int = 40) -> str:
        if self.node is None:
            return ""
        out = self.node.exec(["sh", "-c", f"tail -n {tail} /var/log/moto.log"], user="root", timeout=5)
        try:
            own = self.node.container.logs(tail=tail).decode(errors="replace")
        except Exception as exc:  # noqa: BLE001 - the log is for a message
            own = f"(no container log: {exc})"
        return redact(own + (out.output if out.exit_code == 0 else ""))

    def remove(self) -> None:
        if self.node is not None:
            try:
                self.node.container.remove(force=True, v=True)
            except Exception:  # noqa: BLE001 - the run's teardown and the reaper try again
                pass
            self.node = None

    def address(self) -> str:
        if self.node is None:
            raise SetupError("the S3 endpoint is not running")
        return RunNetwork.of(self.runtime).check(self.node.address())

    def request(self, method: str, path: str, timeout: float = 3) -> tuple[int, str]:
        """One HTTPS request from the host, verified against the run's CA for the name ``s3``."""
        ctx = ssl.create_default_context(cadata=self.tls.ca_pem)
        with socket.create_connection((self.address(), PORT), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=ENDPOINT_NAME) as s:
                s.sendall(f"{method} {path} HTTP/1.1\r\nHost: {ENDPOINT_NAME}\r\nContent-Length: 0\r\n"
                          "Connection: close\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
        try:
            return int(head.split()[1]), body
        except (IndexError, ValueError) as exc:
            raise OSError(f"no HTTP answer: {head[:100]!r}") from exc

    def admin(self, command: str) -> str:
        """One command on HAProxy's runtime API (its admin socket inside the endpoint)."""
        node = self._node()
        script = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n"
                  "s.sendall(sys.argv[2].encode()+b'\\n')\nprint(s.makefile().read(),end='')")
        res = node.exec(["python3", "-c", script, ADMIN_SOCKET, command], user="root", timeout=10)
        if res.exit_code != 0:
            raise SetupError(f"HAProxy's runtime API in the S3 endpoint refused {command!r}: {res.output[-300:]}")
        return res.output

    def _node(self) -> DockerNode:
        if self.node is None:
            raise SetupError("the S3 endpoint is not running")
        return self.node


# -- faults on the run's endpoint ---------------------------------------------------------------


class EndpointDown:
    """Every new connection to the endpoint reset (a TCP RST: the server is gone, its data kept)."""

    name = "s3-endpoint-down"
    one_shot = False

    def __init__(self, endpoint: S3Endpoint) -> None:
        self.endpoint, self.target = endpoint, ENDPOINT_NAME
        self.table = table_name(os.urandom(3).hex())
        self._applied = False

    def _ns(self) -> NetNS:
        return NetNS(self.endpoint._node(), self.endpoint.runtime.run_id)

    def inject(self) -> str:
        require_tools("nsenter", "nft")
        script = (f"table inet {self.table} {{\n  chain input {{\n    type filter hook input priority -5; policy accept;\n"
                  f"    tcp dport {PORT} reject with tcp reset\n  }}\n}}\n")
        self._ns().nft(script)
        self._applied = True
        return f"connections to the S3 endpoint's port {PORT} reset (table inet {self.table})"

    def heal(self) -> str:
        if not self._applied:
            return "nothing to heal"
        self._applied = False
        try:
            there = self._ns().delete_table("inet", self.table)
        except NodeDown:
            there = False
        return f"deleted table inet {self.table} on the S3 endpoint" + ("" if there else " (already gone)")


class EndpointFrozen:
    """The endpoint's container paused: connections open but nothing answers until it thaws."""

    name = "s3-endpoint-frozen"
    one_shot = False

    def __init__(self, endpoint: S3Endpoint) -> None:
        self.endpoint, self.target = endpoint, ENDPOINT_NAME
        self._paused = False

    def inject(self) -> str:
        self.endpoint._node().pause()
        self._paused = True
        return "the S3 endpoint's container paused (docker pause)"

    def heal(self) -> str:
        if not self._paused:
            return "nothing to heal"
        self._paused = False
        self.endpoint._node().resume()
        return "the S3 endpoint's container resumed"


class EndpointErrors:
    """HAProxy answers ``503 SlowDown`` to ``percent`` % of the requests, chosen at random."""

    name = "s3-endpoint-errors"
    one_shot = False

    def __init__(self, endpoint: S3Endpoint, percent: int) -> None:
        if not 1 <= percent <= 100:
            raise SetupError(f"S3 errors: a share of 1 to 100 %, not {percent}")
        self.endpoint, self.target, self.percent = endpoint, ENDPOINT_NAME, percent
        self._applied = False

    def inject(self) -> str:
        self.endpoint.admin(f"clear acl {FAIL_ACL}")
        self.endpoint.admin(f"add acl {FAIL_ACL} 0:{self.percent - 1}")
        self._applied = True
        shown = self.endpoint.admin(f"show acl {FAIL_ACL}").strip().replace("\n", " ")
        return f"HAProxy answers 503 SlowDown to {self.percent} % of S3 requests (acl: {shown})"

    def heal(self) -> str:
        if not self._applied:
            return "nothing to heal"
        self._applied = False
        try:
            self.endpoint.admin(f"clear acl {FAIL_ACL}")
        except HarnessError as exc:
            return f"could not clear the error ACL ({exc}); the endpoint goes with the run"
        return "HAProxy passes every S3 request again"


class _EndpointTopology:
    """Just enough of a topology for :class:`~harness.faults.network.Delay` to act on the endpoint."""

    def __init__(self, cluster: Topology, endpoint: S3Endpoint) -> None:
        self.runtime = cluster.runtime
        self._endpoint = endpoint

    def node(self, name: str) -> DockerNode:
        return self._endpoint._node()

    def resolve(self, role: str) -> str:
        return ENDPOINT_NAME

    def address(self, name: str) -> str:
        return self._endpoint.address()


class EndpointSlow(Delay):
    """Latency on every packet the endpoint sends (its answers), by the harness's NFQUEUE delayer."""

    name = "s3-endpoint-slow"

    def __init__(self, cluster: Topology, endpoint: S3Endpoint, delay_s: float, jitter_s: float = 0.0) -> None:
        super().__init__(_EndpointTopology(cluster, endpoint), ENDPOINT_NAME, delay_s, jitter_s)  # type: ignore[arg-type]
        self.endpoint = endpoint

    def measure_https(self, samples: int = 5) -> float:
        """Median seconds of one HTTPS request from the host to the endpoint (TCP and TLS included)."""
        took = []
        for _ in range(samples):
            t0 = time.monotonic()
            self.endpoint.request("GET", "/", timeout=10 + 10 * self.delay_s)
            took.append(time.monotonic() - t0)
        return sorted(took)[len(took) // 2]
