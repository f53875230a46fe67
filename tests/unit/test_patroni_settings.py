"""Patroni settings: the environment section, the drill's overrides, Patroni's own rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.drill import Drill
from harness.environment import load_environment
from harness.errors import SetupError
from harness.steps.types import EXTRA_TYPES
from harness.topology.patroni import PatroniSettings, settings_for, use_patroni


def test_environment_section_then_step_overrides(tmp_path: Path) -> None:
    env = load_environment("patroni")
    assert env.patroni is not None and env.patroni.ttl == 10
    d = Drill("u", "u", tmp_path, env)
    use_patroni(d, ttl=20, loop_wait=2, retry_timeout=5)
    use_patroni(d, synchronous_mode=True)
    assert d.topology_kind == "patroni"
    s = settings_for(d.env, d.topology_options("patroni"))
    assert (s.ttl, s.loop_wait, s.retry_timeout, s.synchronous_mode, s.nodes) == (20, 2, 5, True, 3)


def test_patroni_rule_loop_wait_plus_two_retries_within_ttl() -> None:
    with pytest.raises(SetupError):
        PatroniSettings(ttl=10, loop_wait=5, retry_timeout=5).check()
    with pytest.raises(SetupError):
        PatroniSettings(etcd_members=2).check()
    PatroniSettings(ttl=20, loop_wait=2, retry_timeout=5).check()


@pytest.mark.parametrize("role", ["the leader", "the etcd leader", "the sync standby", "the old leader", "etcd2"])
def test_target_type_knows_patroni_roles(role: str) -> None:
    import re

    assert re.fullmatch(EXTRA_TYPES["Target"].pattern, role)  # type: ignore[attr-defined]


def test_patroni_4_raises_a_short_ttl_to_its_floor_and_3_takes_it_as_given() -> None:
    from harness.topology.patroni import effective_ttl

    assert effective_ttl(10, "3.0.2") == 10
    assert effective_ttl(10, "4.0.7") == 20
    assert effective_ttl(30, "4.1.5") == 30
    assert effective_ttl(10, "") == 10  # version unknown: what was configured
