"""A team's own configuration files, validated against the image they will run on.

An environment file's ``config:`` section (or the Given steps) may name:

- ``postgresql``: a ``postgresql.conf`` settings file (``name = value`` lines, comments,
  ``include`` is refused: one file is what the report shows). Every name must be a setting of
  the image's PostgreSQL (``postgres --describe-config``), so a typo or a setting removed in
  a newer major fails before anything starts. The harness keeps the settings it needs to
  reach and measure the nodes (listen_addresses, port, ...): those are refused by name.
- ``pg_hba``: ``pg_hba.conf`` lines, put before the harness's own (first match wins).
- ``patroni``: a Patroni YAML merged into the generated configuration (``bootstrap.dcs``, the
  dynamic configuration, included); keys the harness owns (scope, name, restapi, etcd3,
  data_dir, ...) are refused with their line.
- ``pgbackrest``: a ``pgbackrest.conf`` fragment (``[global]`` and/or the stanza's section):
  its options are merged into the generated file; each must be an option of the image's
  pgBackRest (``pgbackrest help``).

Every problem is a :class:`ConfigFileError` naming the file and line. The files' text goes
into the history (``config.<kind>`` notes), and so into the journal and the report.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from harness.errors import SetupError

if TYPE_CHECKING:
    from harness.environment import Environment
    from harness.history import History

__all__ = ["ConfigFileError", "OwnConfig", "deep_merge", "image_options", "read_hba", "read_patroni",
           "apply_hba", "merge_pgbackrest", "own_config", "read_pgbackrest", "read_settings", "resolve_path"]

#: Settings the harness sets itself to reach and observe the nodes.
OWNED_SETTINGS = {"listen_addresses", "port", "unix_socket_directories", "data_directory", "hba_file",
                  "ident_file", "config_file", "cluster_name", "primary_conninfo", "include", "include_dir",
                  "include_if_exists"}
#: Patroni keys the harness generates (topology, addresses, paths, DCS).
OWNED_PATRONI = {("scope",), ("name",), ("namespace",), ("restapi",), ("etcd",), ("etcd3",), ("consul",),
                 ("zookeeper",), ("kubernetes",), ("raft",), ("postgresql", "data_dir"), ("postgresql", "bin_dir"),
                 ("postgresql", "listen"), ("postgresql", "connect_address"), ("postgresql", "pgpass"),
                 ("postgresql", "authentication")}
PATRONI_TOP = {"bootstrap", "postgresql", "tags", "log", "watchdog", "ctl", "citus", "synchronous_mode",
               "failsafe_mode"}
OWNED_PGBACKREST = {"repo-path", "pg-path", "stanza"}
HBA_TYPES = {"local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"}
HBA_METHODS = {"trust", "reject", "scram-sha-256", "md5", "password", "gss", "sspi", "ident", "peer", "ldap",
               "radius", "cert", "pam", "bsd"}


class ConfigFileError(SetupError):
    def __init__(self, where: str, problem: str) -> None:
        self.where, self.problem = where, problem
        super().__init__(f"{where}: {problem}")


def resolve_path(path: str | Path, base: Path | None = None) -> Path:
    """A path as written: absolute, relative to the working directory, the environment file's
    folder, the project, or the built-in data (the steps' ``environments/ours/...``)."""
    from harness import project, resources
    from harness.errors import SetupError

    p = Path(path)
    for c in [p, *([base / p] if base else []), project.current().root / p]:
        if c.is_file():
            return c
    try:  # the built-in data by the same path (the shipped example "environments/ours/...")
        found = resources.builtin(str(p))
    except SetupError:
        found = None
    if found is not None and found.is_file():
        return found
    raise ConfigFileError(str(path), "no such file")


def _suggest(name: str, known: set[str]) -> str:
    near = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {near[0]}?)" if near else ""


def read_settings(path: Path, known: set[str] | None = None, *, what: str = "PostgreSQL") -> dict[str, str]:
    """``name = value`` lines; ``known``: the image's setting names (None: not checked)."""
    out: dict[str, str] = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_.]*)\s*=?\s*(.*)", line)
        if m is None or not m.group(2):
            raise ConfigFileError(f"{path}:{n}", f"expected 'name = value', got {raw.strip()!r}")
        name, value = m.group(1).lower(), m.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1].replace("''", "'")
        if name in OWNED_SETTINGS:
            raise ConfigFileError(f"{path}:{n}", f"{name} is set by the harness (it reaches the nodes with it)")
        if known is not None and "." not in name and name not in known:
            raise ConfigFileError(f"{path}:{n}", f"{name} is not a setting of {what}{_suggest(name, known)}")
        out[name] = value
    return out


def read_hba(path: Path) -> list[str]:
    lines: list[str] = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = re.sub(r"#.*$", "", raw).strip()
        if not line:
            continue
        f = line.split()
        if f[0] not in HBA_TYPES:
            raise ConfigFileError(f"{path}:{n}", f"{f[0]!r} is not a pg_hba.conf connection type "
                                                 f"({', '.join(sorted(HBA_TYPES))})")
        need = 4 if f[0] == "local" else 5
        if len(f) < need:
            raise ConfigFileError(f"{path}:{n}", f"a {f[0]} line needs {need} fields (type database user"
                                                 f"{'' if f[0] == 'local' else ' address'} method), got {len(f)}")
        method = f[need - 1]
        if method not in HBA_METHODS:
            raise ConfigFileError(f"{path}:{n}", f"{method!r} is not an authentication method{_suggest(method, HBA_METHODS)}")
        lines.append(" ".join(f))
    return lines


def _line(node: yaml.Node, path: tuple[str, ...]) -> int:
    cur: yaml.Node = node
    line = cur.start_mark.line + 1
    for part in path:
        if not isinstance(cur, yaml.MappingNode):
            break
        for k, v in cur.value:
            if isinstance(k, yaml.ScalarNode) and k.value == part:
                line, cur = k.start_mark.line + 1, v
                break
    return line


def read_patroni(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigFileError(f"{path}:{mark.line + 1}" if mark else str(path),
                              str(getattr(exc, "problem", exc))) from exc
    if data is None:
        return {}
    if not isinstance(data, dict) or root is None:
        raise ConfigFileError(f"{path}:1", "a Patroni configuration is a mapping (bootstrap:, postgresql:, tags:, ...)")
    for key in data:
        if (str(key),) in OWNED_PATRONI:
            raise ConfigFileError(f"{path}:{_line(root, (str(key),))}", f"{key} is generated by the harness "
                                                                        "(the topology's names, addresses and DCS)")
        if str(key) not in PATRONI_TOP:
            raise ConfigFileError(f"{path}:{_line(root, (str(key),))}",
                                  f"{key} is not a Patroni configuration section{_suggest(str(key), PATRONI_TOP)}")
    for sect, key in (k for k in OWNED_PATRONI if len(k) == 2):
        if isinstance(data.get(sect), dict) and key in data[sect]:
            raise ConfigFileError(f"{path}:{_line(root, (sect, key))}", f"{sect}.{key} is generated by the harness")
    for part in ("postgresql", "bootstrap", "tags"):
        if part in data and not isinstance(data[part], dict):
            raise ConfigFileError(f"{path}:{_line(root, (part,))}", f"{part} must be a mapping")
    return data


def _pgbackrest_name(option: str) -> str:
    return re.sub(r"^(repo|pg)\d+-", r"\1-", option)


def read_pgbackrest(path: Path, known: set[str] | None = None) -> dict[str, dict[str, str]]:
    """``[section]`` headers and ``option=value`` lines; ``known``: the image's option names."""
    out: dict[str, dict[str, str]] = {}
    section: str | None = None
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"\[([A-Za-z0-9_:.-]+)\]", line)
        if m:
            section = m.group(1)
            out.setdefault(section, {})
            continue
        m = re.fullmatch(r"([a-z0-9-]+)\s*=\s*(.*)", line)
        if m is None:
            raise ConfigFileError(f"{path}:{n}", f"expected [section] or option=value, got {line!r}")
        if section is None:
            raise ConfigFileError(f"{path}:{n}", "an option before any [global] or [stanza] section")
        name = _pgbackrest_name(m.group(1))
        if name in OWNED_PGBACKREST:
            raise ConfigFileError(f"{path}:{n}", f"{m.group(1)} is set by the harness (its repository and data directory)")
        if known is not None and name not in known:
            raise ConfigFileError(f"{path}:{n}", f"{m.group(1)} is not a pgBackRest option{_suggest(name, known)}")
        out[section][m.group(1)] = m.group(2).strip()
    return out


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``: mappings key by key, anything else replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


_OPTIONS: dict[str, tuple[set[str], set[str]]] = {}


def image_options(image: str) -> tuple[set[str], set[str]]:
    """The image's PostgreSQL setting names and pgBackRest option names (one throwaway container)."""
    if image in _OPTIONS:
        return _OPTIONS[image]
    from harness.labels import new_run_id, owner_labels
    from harness.runtime.docker_client import docker_client

    script = ("postgres --describe-config | cut -f1; echo ---; "
              "for c in backup archive-push archive-get restore expire check stanza-create; do pgbackrest help $c; done")
    out = docker_client().containers.run(image, ["sh", "-c", script], remove=True, network_mode="none",
                                         labels=owner_labels("options-" + new_run_id(), "node"))
    text = out.decode(errors="replace") if isinstance(out, bytes) else str(out)
    gucs, _, help_text = text.partition("---")
    settings = {g.strip() for g in gucs.splitlines() if g.strip()}
    options = set(re.findall(r"^\s+--([a-z0-9-]+)\s", help_text, re.MULTILINE))
    _OPTIONS[image] = (settings, options)
    return settings, options


@dataclass
class OwnConfig:
    """The validated files of a drill (what the topology applies and the report shows)."""

    settings: dict[str, str] = field(default_factory=dict)
    hba: list[str] = field(default_factory=list)
    patroni: dict[str, Any] = field(default_factory=dict)
    pgbackrest: dict[str, dict[str, str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # kind -> path, for the report


def own_config(env: Environment, image: str | None = None, history: History | None = None) -> OwnConfig:
    """Read and validate the environment's ``config:`` files against ``image`` (default: its own);
    with ``history``, each file's text goes into it (``config.<kind>`` notes) for the report."""
    sect = env.config
    cfg = OwnConfig()
    if sect is None or not any((sect.postgresql, sect.pg_hba, sect.patroni, sect.pgbackrest)):
        return cfg
    base = Path(env.source).parent if env.source else None
    if image is None:
        from harness.images.choose import image_for

        image = image_for(env)
    settings, options = image_options(image)
    if sect.postgresql:
        p = resolve_path(sect.postgresql, base)
        cfg.settings, cfg.files["postgresql"] = read_settings(p, settings, what=f"the image's PostgreSQL ({image})"), str(p)
    if sect.pg_hba:
        p = resolve_path(sect.pg_hba, base)
        cfg.hba, cfg.files["pg_hba"] = read_hba(p), str(p)
    if sect.patroni:
        p = resolve_path(sect.patroni, base)
        cfg.patroni, cfg.files["patroni"] = read_patroni(p), str(p)
        params = cfg.patroni.get("postgresql", {}).get("parameters") or {}
        dyn = cfg.patroni.get("bootstrap", {}).get("dcs", {}).get("postgresql", {}).get("parameters") or {}
        for name in [*params, *dyn]:
            if str(name) not in settings:
                raise ConfigFileError(str(p), f"postgresql parameter {name} is not a setting of the image's "
                                              f"PostgreSQL{_suggest(str(name), settings)}")
    if sect.pgbackrest:
        p = resolve_path(sect.pgbackrest, base)
        cfg.pgbackrest, cfg.files["pgbackrest"] = read_pgbackrest(p, options), str(p)
    if history is not None:
        for kind, path in cfg.files.items():
            history.note(f"config.{kind}", f"{path}:\n{Path(path).read_text(encoding='utf-8')[:4000]}")
    return cfg


def merge_pgbackrest(text: str, fragment: dict[str, dict[str, str]]) -> str:
    """The generated pgbackrest.conf with the fragment's options merged in, section by section."""
    sections: dict[str, dict[str, str]] = {}
    cur = ""
    for line in text.splitlines():
        m = re.fullmatch(r"\[(.+)\]", line.strip())
        if m:
            cur = m.group(1)
            sections.setdefault(cur, {})
        elif "=" in line:
            k, v = line.split("=", 1)
            sections.setdefault(cur, {})[k.strip()] = v.strip()
    for sect, opts in fragment.items():
        sections.setdefault(sect, {}).update(opts)
    return "".join(f"[{s}]\n" + "".join(f"{k}={v}\n" for k, v in o.items()) for s, o in sections.items())


def apply_hba(nodes: list[Any], lines: list[str], pgdata: str, source: str) -> None:
    """Put ``lines`` first in each running node's pg_hba.conf and reload; a line PostgreSQL
    rejects (pg_hba_file_rules) is a ConfigFileError naming the file."""
    import shlex

    body = "\\n".join(lines)
    for node in nodes:
        script = (f"f={pgdata}/pg_hba.conf && {{ printf '%b\\n' {shlex.quote(body)}; cat \"$f\"; }} > \"$f.new\" "
                  f"&& mv \"$f.new\" \"$f\" && pg_ctl -D {pgdata} reload >/dev/null && sleep 0.2 && "
                  "psql -XAtqc \"SELECT line_number || ': ' || error FROM pg_hba_file_rules WHERE error IS NOT NULL\"")
        res = node.exec(["sh", "-c", script])
        if res.exit_code != 0 or res.output.strip():
            raise ConfigFileError(source, f"PostgreSQL on {node.name} refused it: {res.output.strip()[-300:]}")
