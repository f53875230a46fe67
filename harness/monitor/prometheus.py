"""Real alerting: Prometheus, Alertmanager and postgres_exporter watch the topology.

One container of the monitoring image (``environments/images/monitor``: the Debian packages)
joins the run's Docker network and runs one postgres_exporter per node (each with that node's
DSN, by its name on the network: a node that is gone does not resolve, so its exporter says so
at the next scrape instead of waiting out a TCP timeout), Alertmanager and Prometheus, which
scrapes the exporters and the harness's own target (disk use of each node's volumes) and
evaluates a rules file (``environments/alerts/default.rules.yml`` or the environment's own,
checked with ``promtool`` first).

Alertmanager notifies :class:`AlertReceiver`, an HTTP server of the harness bound to the
network's gateway address (the host's address on that bridge: the only one the containers
can reach the host by, and reachable from nothing else). Each delivered alert becomes an
:class:`~harness.history.AlertEvent` with ``source="prometheus"`` and Prometheus's own
``active_at`` / ``fired_at``, so the detection time splits into scrape and evaluation, the
rule's ``for:`` and the delivery (:mod:`harness.checkers.alerting`).

The timeline and the live view read the same numbers the rules do: a sampler thread asks
Prometheus for the newest value of every series each interval and records them as
:class:`~harness.history.Sample` events. There is no second source that could disagree.

A node that joins during the drill (a restore into a new node, an added replica: the
topology or the step says so with a :class:`~harness.history.NodeJoined` event) gets its own
exporter in the running container and a scrape target (a file Prometheus's file discovery
reads each second), within a sampling round of the event.

Two regions: the one monitoring container joins every region's network (Docker's names
resolve on each), so it watches each region from inside it, as a monitoring stack in that
region would: a WAN cut or a region cut off from the clients does not cut its scrapes (the
nodes drop the host's gateway address, not the monitor's); a region that is lost (its nodes
killed) is seen down. With ``auth:`` the exporters' DSNs carry the password (URL-encoded, in
the container's environment and the exporter's own), never a file or log the harness writes:
every log taken from the container goes through :func:`~harness.secrets.redact`.

Usage: ``with PrometheusMonitor(runtime, cluster, history, settings): ...`` (or start/stop).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import docker
import docker.errors
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness import labels
from harness.environment import ENVIRONMENTS_DIR, Environment, PrometheusSettings
from harness.errors import EnvironmentFileError, SetupError, WaitTimeout
from harness.history import AlertEvent, History, NodeJoined, Sample, Stamp, now
from harness.monitor.rules import alert_key
from harness.secrets import redact
from harness.wait import wait_until

if TYPE_CHECKING:
    from harness.runtime.docker import DockerNode, DockerRuntime

__all__ = [
    "DEFAULT_PROMETHEUS_RULES",
    "EXPORTER_QUERIES",
    "AlertReceiver",
    "PrometheusMonitor",
    "alert_key",
    "check_rules",
    "parse_time",
    "prometheus_rules_path",
]

log = logging.getLogger(__name__)

DEFAULT_PROMETHEUS_RULES = ENVIRONMENTS_DIR / "alerts" / "default.rules.yml"
EXPORTER_QUERIES = ENVIRONMENTS_DIR / "alerts" / "exporter-queries.yml"
MONITOR_NODE = "monitor"
PROMETHEUS_PORT, ALERTMANAGER_PORT, FIRST_EXPORTER_PORT = 9090, 9093, 9187
TARGETS_DIR = "/etc/pgharness/targets"  # file discovery: one JSON file per node that joined later
_SEVERITIES = ("critical", "warning", "info")


def parse_time(text: str) -> float:
    """An RFC 3339 time as Go writes it (nanoseconds, ``Z``) to a Unix time."""
    m = re.match(r"^(.*?T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    frac = (m.group(2) or ".0")[:7]
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return dt.datetime.fromisoformat(m.group(1) + frac + zone).timestamp()


def _stamp_of_wall(wall: float) -> Stamp:
    """A Stamp for a wall-clock time another process reported (same host clock)."""
    return Stamp(t=wall - (time.time() - time.monotonic()), wall=wall)


def _seconds(value: float) -> str:
    return f"{max(1, round(value * 1000))}ms"


def check_rules(path: Path, image: str | None = None) -> int:
    """Run ``promtool check rules`` on ``path`` in the monitoring image; the number of rules.

    A rejected file is an EnvironmentFileError naming the file and promtool's words (which
    name the group, the rule and the line)."""
    from harness.images.build import monitor_image
    from harness.runtime.docker_client import docker_client

    path = path.resolve()
    if not path.is_file():
        raise EnvironmentFileError(str(path), ["no such Prometheus rules file"])
    client = docker_client()
    tag = image or monitor_image()
    try:
        out = client.containers.run(tag, ["promtool", "check", "rules", "/rules/" + path.name], remove=True,
                                    volumes={str(path.parent): {"bind": "/rules", "mode": "ro"}},
                                    labels=labels.owner_labels("promtool", "node"), network_mode="none",
                                    stdout=True, stderr=True)
        text = out.decode(errors="replace") if isinstance(out, bytes) else str(out)
    except docker.errors.ImageNotFound as exc:
        raise SetupError(f"monitoring image {tag} is missing: run `harness images build`") from exc
    except docker.errors.ContainerError as exc:
        said = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else str(exc.stderr or "")
        lines = [ln.strip().replace("/rules/" + path.name, str(path)) for ln in said.splitlines()
                 if ln.strip() and not ln.startswith("Checking") and ln.strip() != "FAILED:"]
        raise EnvironmentFileError(str(path), lines or ["promtool rejected the rules file"]) from exc
    m = re.search(r"SUCCESS: (\d+) rules found", text)
    return int(m.group(1)) if m else 0


# -- Alertmanager's webhook payload (version 4) ----------------------------------------------


class _AmAlert(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str  # noqa: N815 - Alertmanager's field names
    endsAt: str = ""  # noqa: N815


class _AmPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    status: str
    alerts: list[_AmAlert]


class DiskUsage(Protocol):
    def __call__(self, name: str) -> dict[str, float]: ...


class _DiskCollector(Collector):
    """pgharness_disk_used_pct{node, disk}: the harness measures the volumes on the host."""

    def __init__(self, names: Callable[[], Sequence[str]], disk_usage: DiskUsage) -> None:
        self.names, self.disk_usage = names, disk_usage

    def collect(self) -> Iterable[GaugeMetricFamily]:
        g = GaugeMetricFamily("pgharness_disk_used_pct", "use of a node's data or WAL volume (%)",
                              labels=["node", "disk"])
        for name in self.names():
            try:
                usage = self.disk_usage(name)
            except Exception:  # noqa: BLE001 - a node without volumes has no disk numbers
                continue
            for key, value in usage.items():
                m = re.fullmatch(r"disk_(data|wal)_pct", key)
                if m:
                    g.add_metric([name, m.group(1)], value)
        yield g


class AlertReceiver:
    """Alertmanager's webhook receiver (POST /alerts) and the harness's scrape target (GET /metrics)."""

    def __init__(self, host: str, on_alerts: Callable[[_AmPayload, Stamp], None],
                 registry: CollectorRegistry | None = None) -> None:
        self.on_alerts, self.registry = on_alerts, registry or CollectorRegistry()
        self.errors: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                received = now()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = _AmPayload.model_validate_json(body)
                except ValidationError as exc:
                    receiver.errors.append(f"a notification that is not Alertmanager's: {exc}"[:300])
                    self.send_response(400)
                    self.end_headers()
                    return
                try:
                    receiver.on_alerts(payload, received)
                except Exception as exc:  # noqa: BLE001 - kept for stop(); Alertmanager retries on 500
                    receiver.errors.append(repr(exc)[:300])
                    log.exception("recording an alert failed")
                self.send_response(200)
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                if self.path.split("?")[0] != "/metrics":
                    self.send_response(404)
                    self.end_headers()
                    return
                data = generate_latest(receiver.registry)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

        try:
            self._server = ThreadingHTTPServer((host, 0), Handler)
        except OSError as exc:
            raise SetupError(f"the alert receiver cannot listen on {host}: {exc}") from exc
        self._server.daemon_threads = True
        self.host, self.port = host, int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="alert-receiver", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# -- the monitor ------------------------------------------------------------------------------


class _Cluster(Protocol):
    @property
    def names(self) -> Sequence[str]: ...


class PrometheusMonitor:
    """Prometheus + Alertmanager + exporters for one topology; a context manager."""

    def __init__(self, runtime: DockerRuntime, cluster: _Cluster, history: History, settings: PrometheusSettings,
                 *, rules: Path | None = None, disk_usage: DiskUsage | None = None, interval_s: float = 1.0,
                 max_duration_s: float = 3600, logs_dir: Path | None = None, password: str | None = None,
                 networks: Sequence[str] = ()) -> None:
        """``logs_dir``: where the exporters', Alertmanager's and Prometheus's logs go on stop;
        ``password``: the nodes' (auth:), for the exporters' DSNs; ``networks``: more networks
        than the run's to join (the other region's)."""
        self.runtime, self.cluster, self.history, self.settings = runtime, cluster, history, settings
        self.password, self.networks = password, [n for n in networks if n != runtime.network_name]
        self._events_seen = 0  # how far the history was read for NodeJoined
        self.rules = rules or DEFAULT_PROMETHEUS_RULES
        self.disk_usage, self.logs_dir = disk_usage, logs_dir
        self.interval_s, self.max_duration_s = interval_s, max_duration_s
        self.names = list(cluster.names)  # the nodes at the start: one exporter each
        self._firing: dict[tuple[str, str], AlertEvent] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._receiver: AlertReceiver | None = None
        self._node: DockerNode | None = None
        self.address = ""  # the monitoring container's address on the run's network
        self.error: BaseException | None = None
        self.rule_count = 0

    # -- life cycle --

    def __enter__(self) -> PrometheusMonitor:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            return
        from harness.images.build import monitor_image

        image = monitor_image()
        self.rule_count = check_rules(self.rules, image)
        registry = CollectorRegistry()
        if self.disk_usage is not None:
            registry.register(_DiskCollector(lambda: self.names, self.disk_usage))
        self._receiver = AlertReceiver(self._gateway(), self._on_alerts, registry)
        try:
            self._node = self.runtime.create_node(MONITOR_NODE, image=image, env=self._container_env())
            self.address = self._node.address()  # on the run's network: where the harness asks
            for net in self.networks:
                self.runtime.client.networks.get(net).connect(self._node.container, aliases=[MONITOR_NODE])
            self._events_seen = len(self.history)
            self._wait_ready()
        except BaseException:
            self._teardown()
            raise
        self.history.note("monitor.prometheus", f"Prometheus at {self.address}:{PROMETHEUS_PORT}, "
                          f"{self.rule_count} rules from {self.rules}, receiver {self._receiver.url}")
        self._thread = threading.Thread(target=self._run, name="prometheus-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._teardown()

    def _teardown(self) -> None:
        if self._node is not None:
            try:
                self._save_logs()
                self._node.container.remove(force=True, v=True)
            except docker.errors.APIError:  # already gone with the run's teardown
                pass
            self._node = None
        if self._receiver is not None:
            if self._receiver.errors:
                self.history.note("monitor.receiver_errors", "; ".join(self._receiver.errors[:5]))
            self._receiver.close()
            self._receiver = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def firing(self) -> set[tuple[str, str]]:
        """(alert, node) pairs Alertmanager said are firing and not yet resolved."""
        with self._lock:
            return set(self._firing)

    # -- configuration --

    def _gateway(self) -> str:
        net = self.runtime.client.networks.get(self.runtime.network_name)
        for cfg in net.attrs.get("IPAM", {}).get("Config") or []:
            if cfg.get("Gateway"):
                return str(cfg["Gateway"])
        raise SetupError(f"network {self.runtime.network_name} has no gateway address for the alert receiver")

    def _dsn(self, name: str) -> str:
        user = "postgres" + (":" + urllib.parse.quote(self.password, safe="") if self.password else "")
        return f"postgresql://{user}@{name}:5432/postgres?sslmode=disable&connect_timeout=1"

    def _container_env(self) -> dict[str, str]:
        s = self.settings
        assert self._receiver is not None
        exporters = []
        targets = []
        for i, name in enumerate(self.names):
            port = FIRST_EXPORTER_PORT + i
            exporters.append(f"{name} {port} {self._dsn(name)}")
            targets.append({"targets": [f"127.0.0.1:{port}"], "labels": {"node": name}})
        scrape = {"job_name": "postgres", "static_configs": targets,
                  "file_sd_configs": [{"files": [f"{TARGETS_DIR}/*.json"], "refresh_interval": "1s"}]}
        harness_target = {"job_name": "harness",
                          "static_configs": [{"targets": [f"{self._receiver.host}:{self._receiver.port}"]}]}
        prometheus = {
            "global": {"scrape_interval": _seconds(s.scrape_interval_s),
                       "scrape_timeout": _seconds(s.scrape_interval_s * 0.9),
                       "evaluation_interval": _seconds(s.evaluation_interval_s)},
            "rule_files": ["/etc/pgharness/rules.yml"],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ALERTMANAGER_PORT}"]}]}]},
            "scrape_configs": [scrape, harness_target],
        }
        alertmanager = {
            "route": {"receiver": "harness", "group_by": ["alertname", "node"],
                      "group_wait": _seconds(s.group_wait_s) if s.group_wait_s > 0 else "0s",
                      "group_interval": _seconds(s.group_interval_s), "repeat_interval": "1h"},
            "receivers": [{"name": "harness", "webhook_configs": [
                {"url": f"{self._receiver.url}/alerts", "send_resolved": True, "max_alerts": 0}]}],
        }
        return {
            "HARNESS_PROMETHEUS_YML": yaml.safe_dump(prometheus, sort_keys=False),
            "HARNESS_ALERTMANAGER_YML": yaml.safe_dump(alertmanager, sort_keys=False),
            "HARNESS_RULES_YML": self.rules.read_text(encoding="utf-8"),
            "HARNESS_QUERIES_YML": EXPORTER_QUERIES.read_text(encoding="utf-8"),
            "HARNESS_EXPORTERS": "\n".join(exporters),
        }

    def _wait_ready(self) -> None:
        timeout = self.settings.ready_timeout_s

        def ready(port: int) -> bool:
            try:
                with urllib.request.urlopen(f"http://{self.address}:{port}/-/ready", timeout=1) as r:
                    return bool(r.status == 200)
            except (OSError, urllib.error.URLError):
                return False

        try:
            wait_until(lambda: ready(PROMETHEUS_PORT) and ready(ALERTMANAGER_PORT), timeout=timeout, interval=0.1,
                       what="Prometheus and Alertmanager to be ready")
        except WaitTimeout as exc:
            raise SetupError(f"the monitoring container did not start: {exc}\n{self._logs_tail()}") from exc
        last: dict[str, str] = {}

        def exporters_up() -> bool:
            up = {r["metric"].get("node", ""): r["value"][1] for r in self.query('pg_up{job="postgres"}')}
            scraped = {r["metric"].get("node", ""): r["value"][1] for r in self.query('up{job="postgres"}')}
            last.clear()
            for name in self.names:
                if scraped.get(name) != "1":
                    last[name] = "its exporter is not scraped"
                elif up.get(name) != "1":
                    last[name] = "its exporter cannot connect (pg_up 0)"
            return not last

        try:
            wait_until(exporters_up, timeout=timeout, interval=0.2, what="every node's exporter to report it up")
        except WaitTimeout as exc:
            why = "; ".join(f"{n}: {w}" for n, w in sorted(last.items()))
            raise SetupError(f"postgres_exporter cannot reach every node within {timeout:g} s ({why})\n"
                             f"{self._logs_tail()}") from exc

    def _logs_tail(self) -> str:
        if self._node is None:
            return ""
        res = self._node.exec(["sh", "-c", "tail -n 5 /var/log/pgharness/*.log"], user="root", timeout=5)
        tail: bytes = self._node.container.logs(tail=20)
        return redact(res.output[-2500:] + tail.decode(errors="replace"))

    def _save_logs(self) -> None:
        assert self._node is not None
        if self.logs_dir is None or not self._node.is_running():
            return
        res = self._node.exec(["sh", "-c", "tail -n 200 /var/log/pgharness/*.log"], user="root", timeout=5)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        (self.logs_dir / "monitor.log").write_text(
            redact(res.output + self._node.container.logs(tail=200).decode(errors="replace")))

    # -- nodes that join during the drill --

    def watch(self, name: str) -> None:
        """Give ``name`` (a node that joined after the start) an exporter and a scrape target."""
        if name in self.names or self._node is None:
            return
        port = FIRST_EXPORTER_PORT + len(self.names)
        target = json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"node": name}}])
        # The DSN goes in the exec's environment, not its command line (the password, with auth:).
        self._node.container.exec_run(
            ["sh", "-c", 'exec prometheus-postgres-exporter --web.listen-address=":$PORT" '
                         '--extend.query-path=/etc/pgharness/queries.yml --log.level=warn '
                         '> "/var/log/pgharness/exporter-$NAME.log" 2>&1'],
            user="root", detach=True, environment={"DATA_SOURCE_NAME": self._dsn(name), "PORT": str(port), "NAME": name})
        res = self._node.exec(["sh", "-c", f'mkdir -p {TARGETS_DIR} && printf "%s" "$0" > {TARGETS_DIR}/.{name}.tmp '
                                           f"&& mv {TARGETS_DIR}/.{name}.tmp {TARGETS_DIR}/{name}.json", target],
                              user="root", timeout=5)
        if res.exit_code != 0:
            raise SetupError(f"monitor: cannot add the scrape target of {name}: {res.output.strip()[:300]}")
        self.names.append(name)
        self.history.note("monitor.watch", f"{name} joined: its exporter on port {port}, scraped from now on")

    def _watch_joined(self) -> None:
        events = self.history.events()
        joined = [e.node for e in events[self._events_seen:] if isinstance(e, NodeJoined)]
        self._events_seen = len(events)
        for name in joined:
            try:
                self.watch(name)
            except (docker.errors.APIError, SetupError) as exc:  # the node stays unwatched, and the journal says so
                self.history.note("monitor.watch_failed", f"{name}: {redact(str(exc))[:300]}")

    # -- Prometheus's API --

    def _api(self, path: str, **params: str) -> Any:
        url = f"http://{self.address}:{PROMETHEUS_PORT}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=2) as r:
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise SetupError(f"Prometheus answered {path}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's vector (metric labels, [time, value])."""
        data = self._api("/api/v1/query", query=expr)
        return list(data.get("result", []))

    def announce(self, alert: str, severity: str, node: str, minutes: float) -> None:
        """Post an alert to Alertmanager itself (an operator's announcement, e.g. a maintenance window)."""
        start = dt.datetime.now(dt.timezone.utc)
        body = json.dumps([{"labels": {"alertname": alert, "severity": severity, "node": node},
                            "annotations": {"summary": f"{minutes:g} min announced"},
                            "startsAt": start.isoformat(),
                            "endsAt": (start + dt.timedelta(minutes=minutes)).isoformat()}]).encode()
        req = urllib.request.Request(f"http://{self.address}:{ALERTMANAGER_PORT}/api/v2/alerts", data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=2):
            pass

    # -- alerts delivered by Alertmanager --

    def _active_at(self, want: dict[str, str]) -> Stamp | None:
        """Prometheus's activeAt of the alert with these labels (None: not Prometheus's, or gone)."""
        try:
            alerts = self._api("/api/v1/alerts").get("alerts", [])
        except (OSError, SetupError, ValueError):
            return None
        for a in alerts:
            if a.get("labels") == want and a.get("activeAt"):
                return _stamp_of_wall(parse_time(str(a["activeAt"])))
        return None

    def _on_alerts(self, payload: _AmPayload, received: Stamp) -> None:
        for a in payload.alerts:
            name = a.labels.get("alertname", "?")
            node = a.labels.get("node") or a.labels.get("instance") or "cluster"
            raw = a.labels.get("severity", "warning")
            severity = raw if raw in _SEVERITIES else "warning"
            key = (name, node)
            detail = a.annotations.get("summary", "") + ("" if raw == severity else f" (severity {raw!r})")
            with self._lock:
                if a.status == "firing":
                    if key in self._firing:
                        continue  # a repeated notice of an alert already recorded
                    fired = _stamp_of_wall(parse_time(a.startsAt))
                    event = AlertEvent(at=received, alert=name, severity=severity, node=node,  # type: ignore[arg-type]
                                       phase="firing", detail=detail, source="prometheus",
                                       active_at=self._active_at(a.labels), fired_at=fired)
                    self._firing[key] = event
                elif key in self._firing:
                    first = self._firing.pop(key)
                    event = AlertEvent(at=received, alert=name, severity=severity, node=node,  # type: ignore[arg-type]
                                       phase="resolved", detail=detail, source="prometheus",
                                       active_at=first.active_at, fired_at=first.fired_at)
                else:
                    continue
                self.history.add(event)

    # -- the samples (the timeline's and the live view's numbers) --

    def _run(self) -> None:
        t0 = time.monotonic()
        try:
            while not self._stop.is_set() and time.monotonic() - t0 < self.max_duration_s:
                started = time.monotonic()
                try:
                    self._watch_joined()
                    self.sample_once()
                except (OSError, SetupError, ValueError) as exc:  # Prometheus busy: the next round asks again
                    log.debug("sampling Prometheus failed: %s", exc)
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
        except BaseException as exc:  # noqa: BLE001 - surfaced by the drill
            self.error = exc
            log.exception("Prometheus sampler crashed")

    def sample_once(self) -> list[Sample]:
        at = now()
        series = self.query('{__name__=~"up|pg_up|pg_harness_.+|pgharness_disk_used_pct"}')
        tps = {r["metric"].get("node", ""): float(r["value"][1])
               for r in self.query("rate(pg_harness_xact_commit[5s])")}
        by_node: dict[str, dict[str, float]] = {n: {} for n in self.names}
        lag: dict[str, dict[str, float]] = {}
        for r in series:
            metric, value = r["metric"], float(r["value"][1])
            name = metric.get("__name__", "")
            if name == "up" and metric.get("job") != "postgres":
                continue
            if name.startswith("pg_harness_standby_"):
                lag.setdefault(metric.get("standby", ""), {})[
                    "lag_bytes" if name.endswith("lag_bytes") else "lag_s"] = value
                continue
            node = metric.get("node", "")
            if node not in by_node:
                continue
            if name == "pgharness_disk_used_pct":
                by_node[node][f"disk_{metric.get('disk', 'data')}_pct"] = value
            else:
                by_node[node][name.removeprefix("pg_harness_")] = value
        out = []
        for node, m in by_node.items():
            up = 1.0 if m.pop("up", 0) == 1 and m.pop("pg_up", 0) == 1 else 0.0
            metrics = {k: v for k, v in m.items() if k not in ("config_hash", "schema_hash", "xact_commit")}
            disks = [v for k, v in metrics.items() if k in ("disk_data_pct", "disk_wal_pct")]
            if disks:
                metrics["disk_max_pct"] = max(disks)
            if not up:
                out.append(self.history.add(Sample(at=at, node=node, role="down",
                                                   metrics={k: v for k, v in metrics.items() if k.startswith("disk_")}
                                                   | {"up": 0.0})))
                continue
            replica = metrics.get("is_replica", 0) == 1
            metrics["up"] = 1.0
            if node in tps:
                metrics["tps"] = tps[node]
            if replica:
                metrics |= lag.get(node, {})
            else:
                metrics.pop("receiving", None)
            out.append(self.history.add(Sample(at=at, node=node, role="replica" if replica else "primary",
                                               metrics=metrics)))
        return out


def prometheus_rules_path(env: Environment) -> Path:
    """The rules file an environment names (relative to its own folder), or the default."""
    settings = env.monitor.prometheus
    if settings is None or settings.rules is None:
        return DEFAULT_PROMETHEUS_RULES
    p = Path(settings.rules)
    if not p.is_absolute():
        p = (Path(env.source).parent if env.source else ENVIRONMENTS_DIR) / p
    return p
