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
