"""The Toxiproxy path against a stand-in of its HTTP API on loopback.

No Toxiproxy server can be installed here, so this checks what the harness sends (proxies in
front of each node, toxics added and removed as faults heal) — not Toxiproxy's own effect.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from harness.errors import SetupError
from harness.faults.base import FaultSet
from harness.faults.toxiproxy import ToxicFault, ToxiproxyServer
from harness.history import FaultEvent, History


class _API(BaseHTTPRequestHandler):
    proxies: dict[str, dict[str, Any]] = {}
    toxics: dict[str, dict[str, dict[str, Any]]] = {}
    calls: list[tuple[str, str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"null")

    def do_GET(self) -> None:  # noqa: N802
        self.calls.append(("GET", self.path, None))
        if self.path == "/proxies":
            self._reply(200, self.proxies)
        elif self.path == "/version":
            self._reply(200, "stand-in")
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()
        self.calls.append(("POST", self.path, body))
        if self.path == "/proxies":
            if body["name"] in self.proxies:
                self._reply(409, {"error": "exists"})
                return
            proxy = {"name": body["name"], "upstream": body["upstream"], "enabled": True,
                     "listen": "127.0.0.1:%d" % (40000 + len(self.proxies))}
            self.proxies[body["name"]] = proxy
            self._reply(201, proxy)
        elif self.path.endswith("/toxics"):
            name = self.path.split("/")[2]
            self.toxics.setdefault(name, {})[body["name"]] = body
            self._reply(200, body)
        else:
            self._reply(404, {"error": "not found"})

    def do_DELETE(self) -> None:  # noqa: N802
        self.calls.append(("DELETE", self.path, None))
        parts = self.path.split("/")
        if len(parts) == 5:
            self.toxics.get(parts[2], {}).pop(parts[4], None)
        else:
            self.proxies.pop(parts[2], None)
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def api() -> Iterator[type[_API]]:
    _API.proxies, _API.toxics, _API.calls = {}, {}, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _API)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    _API.port = httpd.server_address[1]  # type: ignore[attr-defined]
    try:
        yield _API
    finally:
        httpd.shutdown()


def test_proxies_front_each_node_and_toxics_heal(api: type[_API]) -> None:
    server = ToxiproxyServer(api_port=api.port).start()  # type: ignore[attr-defined]
    listen = server.front("node1", "172.30.0.2:5432")
    assert listen.startswith("127.0.0.1:")
    assert api.proxies["pgh-node1"]["upstream"] == "172.30.0.2:5432"
    history = History()
    with FaultSet(history) as faults:
        faults.inject(ToxicFault(server, "node1", "latency", {"latency": 200, "jitter": 20}))
        toxic = api.toxics["pgh-node1"]["pgh_latency_downstream"]
        assert toxic["type"] == "latency" and toxic["attributes"] == {"latency": 200, "jitter": 20}
    # Leaving the block healed it: the toxic is gone and the history says so.
    assert api.toxics["pgh-node1"] == {}
    assert [e.phase for e in history.of(FaultEvent)] == ["inject", "heal"]
    server.stop()
    assert api.proxies == {}  # everything the harness made on the server is removed


def test_unknown_toxic_and_missing_server_are_clear_errors(api: type[_API], monkeypatch: pytest.MonkeyPatch) -> None:
    server = ToxiproxyServer(api_port=api.port).start()  # type: ignore[attr-defined]
    server.front("node1", "172.30.0.2:5432")
    with pytest.raises(SetupError, match="unknown toxic"):
        server.add_toxic("node1", "teleport", {})
    with pytest.raises(SetupError, match="no Toxiproxy proxy in front of node2"):
        server.add_toxic("node2", "latency", {"latency": 1})
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SetupError, match="toxiproxy-server is not on PATH"):
        ToxiproxyServer().start()
