"""Drill parts of the stacks work: split-brain checking by default, and the versions section.

Added to every drill by the plugin (:func:`add_stack_parts`):

- :class:`SplitBrainByDefault`: when the probes start on an HA-managed topology (Patroni,
  pg_auto_failover), the fan-out write probe starts with them, so ``Then there was never
  more than one writable primary`` needs no Given of its own.
- :class:`StackSection`: the ``versions`` section of the scenario's result (the stack, its
  PostgreSQL, Patroni, pgBackRest and etcd versions, read from the image that ran), which
  summary.json, summary.md/html and Allure render; and ``config``: the team's own files used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from harness.parts import PartBase
from harness.topology.base import HaManaged

if TYPE_CHECKING:
    from harness.drill import Drill

__all__ = ["ConfigFiles", "SplitBrainByDefault", "StackSection", "Versions", "add_stack_parts", "allure_environment",
           "versions_caption"]


class Versions(BaseModel):
    model_config = ConfigDict(frozen=True)
    stack: str
    postgresql: str
    patroni: str
    pgbackrest: str
    etcd: str
    pg_auto_failover: str
    image: str


class ConfigFiles(BaseModel):
    model_config = ConfigDict(frozen=True)
    postgresql: str | None = None
    pg_hba: str | None = None
    patroni: str | None = None
    pgbackrest: str | None = None


class SplitBrainByDefault(PartBase):
    def probes_started(self, drill: Drill) -> None:
        if isinstance(drill.cluster, HaManaged):
            drill.start_fanout()


class StackSection(PartBase):
    section = "versions"

    def __init__(self, drill: Drill) -> None:
        self.drill = drill
        self.image: str | None = None

    def probes_started(self, drill: Drill) -> None:
        from harness.images.choose import image_for

        self.image = image_for(drill.env, build=False)  # the image the running topology was made from

    def result_section(self) -> Versions | None:
        from harness.images.build import stack_of
        from harness.images.versions import image_versions

        if self.image is None:
            return None
        try:
            v = image_versions(self.image)
        except Exception:  # noqa: BLE001 - a report never fails for a courtesy
            return None
        return Versions(stack=stack_of(self.drill.env), postgresql=v.postgresql, patroni=v.patroni,
                        pgbackrest=v.pgbackrest, etcd=v.etcd, pg_auto_failover=v.pg_auto_failover, image=self.image)


class ConfigSection(PartBase):
    section = "config"

    def __init__(self, drill: Drill) -> None:
        self.drill = drill

    def result_section(self) -> ConfigFiles | None:
        c = self.drill.env.config
        if c is None or not any((c.postgresql, c.pg_hba, c.patroni, c.pgbackrest)):
            return None
        return ConfigFiles(postgresql=c.postgresql, pg_hba=c.pg_hba, patroni=c.patroni, pgbackrest=c.pgbackrest)


def add_stack_parts(drill: Drill) -> None:
    drill.add_part(SplitBrainByDefault())
    drill.add_part(StackSection(drill))
    drill.add_part(ConfigSection(drill))


def _versions_of(sections: list[Any]) -> list[dict[str, str]]:
    seen: list[dict[str, str]] = []
    for sec in sections:
        v = sec.model_dump() if isinstance(sec, BaseModel) else sec
        if isinstance(v, dict) and v not in seen:
            seen.append({str(k): str(x) for k, x in v.items()})
    return seen


def versions_caption(scenarios: list[dict[str, Any]]) -> str:
    """The CLI table's header line: the stack(s) and versions the run's scenarios ran on."""
    vs = _versions_of([(s.get("sections") or {}).get("versions") for s in scenarios])
    parts = [f"{v['stack']}: PostgreSQL {v['postgresql']}, Patroni {v['patroni']}, pgBackRest {v['pgbackrest']}, "
             f"etcd {v['etcd']}" for v in vs]
    return ("\n" + "; ".join(dict.fromkeys(parts))) if parts else ""


def allure_environment(results: list[Any]) -> dict[str, str]:
    """environment.properties entries: each stack's versions (``<stack>.postgresql=17.12``, ...)."""
    out: dict[str, str] = {}
    for v in _versions_of([getattr(r, "sections", {}).get("versions") for r in results]):
        for k in ("postgresql", "patroni", "pgbackrest", "etcd", "pg_auto_failover", "image"):
            out[f"{v['stack']}.{k}"] = v[k]
    return out
