"""The versions a node image holds, read from the image itself (never assumed).

``node-versions`` (in the image) prints them; this runs it once per image id in a throwaway
labelled container and keeps the answer in memory and under ``~/.cache/pgharness`` (an image
id never changes content, so the cache needs no invalidation). The harness takes PostgreSQL's
bin directory, Patroni's version (its REST and config differences) and pgBackRest's version
from here, and reports them in summary.json, the CLI table and Allure's environment.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import ImageBuildError

__all__ = ["ImageVersions", "image_versions", "parse_versions", "version_tuple"]

_CACHE: dict[str, ImageVersions] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ImageVersions:
    debian: str
    pg_major: int
    pg_bin: str
    postgresql: str
    patroni: str
    patroni_path: str
    pgbackrest: str
    etcd: str
    pg_auto_failover: str
    python: str

    def short(self) -> dict[str, str]:
        """The four a report names (what a team asks about before an upgrade)."""
        return {"postgresql": self.postgresql, "patroni": self.patroni, "pgbackrest": self.pgbackrest,
                "etcd": self.etcd}

    def line(self) -> str:
        return (f"PostgreSQL {self.postgresql}, Patroni {self.patroni}, pgBackRest {self.pgbackrest}, "
                f"etcd {self.etcd}, pg_auto_failover {self.pg_auto_failover} (Debian {self.debian})")


def version_tuple(text: str) -> tuple[int, ...]:
    """"4.0.7" -> (4, 0, 7); anything not a number ends it ("17.5 (Debian 17.5-1)" -> (17, 5))."""
    out: list[int] = []
    for part in text.strip().split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        out.append(int(digits))
        if len(digits) != len(part):
            break
    return tuple(out)


def parse_versions(text: str, *, image: str = "") -> ImageVersions:
    kv = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    fields = ImageVersions.__dataclass_fields__
    missing = [k for k in fields if k not in kv]
    if missing or not kv.get("pg_major", "").isdigit():
        raise ImageBuildError(f"{image or 'the image'}: node-versions said {text.strip()!r} (missing {missing})")
    data: dict[str, object] = {k: kv[k].strip() or "none" for k in fields}
    data["pg_major"] = int(kv["pg_major"])
    return ImageVersions(**data)  # type: ignore[arg-type]


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pgharness" / "versions"


def image_versions(image: str) -> ImageVersions:
    """The versions of ``image`` (a tag or id): from the cache, else from the image itself."""
    from harness.labels import new_run_id, owner_labels
    from harness.runtime.docker_client import docker_client

    client = docker_client()
    image_id = str(client.images.get(image).id).replace("sha256:", "")
    with _LOCK:
        if image_id in _CACHE:
            return _CACHE[image_id]
        path = _cache_dir() / f"{image_id}.json"
        if path.exists():
            v = ImageVersions(**json.loads(path.read_text()))
        else:
            out = client.containers.run(image, ["/usr/local/bin/node-versions"], remove=True, network_mode="none",
                                        labels=owner_labels("versions-" + new_run_id(), "node"))
            v = parse_versions(out.decode(errors="replace") if isinstance(out, bytes) else str(out), image=image)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(asdict(v)))
        _CACHE[image_id] = v
        return v
