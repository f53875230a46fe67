"""Client-side TCP faults through Toxiproxy (needs toxiproxy-server on PATH)."""

from __future__ import annotations

import re

from pytest_bdd import given, when

from harness.drill import Drill
from harness.errors import SetupError
from harness.faults.toxiproxy import ToxicFault
from harness.steps.types import parse


def _attributes(text: str) -> dict[str, int]:
    """'latency=200, jitter=20' → {'latency': 200, 'jitter': 20}"""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"([a-z_]+)\s*=\s*(\d+)", part)
        if not m:
            raise SetupError(f"toxic attribute {part!r} is not name=number")
        out[m.group(1)] = int(m.group(2))
    return out


@given(parse("client traffic goes through Toxiproxy"))
def _(drill: Drill) -> None:
    """Start a Toxiproxy server on loopback and send the probes to every node through it."""
    drill.route_clients_through_toxiproxy()


@when(parse('I add the Toxiproxy toxic "{toxic}" with {attributes} to {target:Target}'))
def _(drill: Drill, toxic: str, attributes: str, target: str) -> None:
    """Add any Toxiproxy toxic ("latency", "timeout", ...) with its attributes ("latency=200, jitter=20")."""
    server = drill.route_clients_through_toxiproxy()
    drill.apply(ToxicFault(server, drill.target(target), toxic, _attributes(attributes)))


@when(parse("I add {ms:d} ms of Toxiproxy latency to {target:Target}"))
def _(drill: Drill, ms: int, target: str) -> None:
    """Delay the clients' traffic to the node in Toxiproxy."""
    server = drill.route_clients_through_toxiproxy()
    drill.apply(ToxicFault(server, drill.target(target), "latency", {"latency": ms}))


@when(parse("Toxiproxy resets the clients' connections to {target:Target}"))
def _(drill: Drill, target: str) -> None:
    """Reset every client connection to the node (TCP RST)."""
    server = drill.route_clients_through_toxiproxy()
    drill.apply(ToxicFault(server, drill.target(target), "reset_peer", {"timeout": 0}))
