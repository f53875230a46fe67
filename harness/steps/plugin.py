"""The pytest plugin: the step library, the ``drill`` fixture, run outputs and safety hooks.

Registered by the ``pytest11`` entry point (:mod:`harness.steps.entry`) as soon as a test
needs it, so ``pytest scenarios/`` and ``harness run`` use the same steps. Every scenario gets its own topology (a Docker scope of the run) and
journal; the run writes ``reports/runs/<run-id>/summary.json`` as scenarios finish.
"""

from __future__ import annotations

import datetime as dt
import difflib
import html
import json
import os
import signal
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, cast

import pytest

from harness import labels
from harness.checkers.load import load_phases
from harness.cost import CostMeter, run_cost
from harness.logscan import LogScan, unexpected
from harness.clients.part import ClientsPart
from harness.drill import Drill, slug
from harness.errors import HarnessError, TargetMissed
from harness.report import verdict
from harness.result import METRICS, ScenarioResult, fault_results, fmt_value, target_text
from harness.secrets import redact
from harness.stackparts import add_stack_parts, allure_environment
from harness.steps.types import example_value, known_phrasings, type_hint
from harness.topology import registry

pytest_plugins = [
    "harness.steps.topology",
    "harness.steps.faults",
    "harness.steps.network",
    "harness.steps.disk",
    "harness.steps.pgfaults",
    "harness.steps.recovery",
    "harness.steps.checks",
    "harness.steps.monitoring",
    "harness.steps.gameday",
    "harness.steps.toxics",
    "harness.steps.runbooks",
    "harness.steps.backup",
    "harness.steps.s3",
    "harness.steps.patroni",
    "harness.steps.dr",
    "harness.steps.stacks",  # stacks: Given the stack, Patroni from PyPI, take-backs
    "harness.steps.clients",  # the client path: HAProxy, PgBouncer, libpq multi-host
    "harness.steps.replicas",  # delayed and cascading replicas
    "harness.steps.logical",  # logical replication between two clusters
]

RESULT = pytest.StashKey[ScenarioResult]()
DRILL = pytest.StashKey[Drill]()


class HarnessRun:
    """One pytest session: its id, its output folder and its scenarios' results."""

    def __init__(self, reports: Path, worker: str = "") -> None:
        self.run_id = os.environ.get("HARNESS_RUN_ID") or labels.new_run_id()
        os.environ["HARNESS_RUN_ID"] = self.run_id
        self.directory = reports / "runs" / self.run_id
        self.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.results: list[ScenarioResult] = []
        self.count = 0
        # Where each scenario is and which step it was on (by its folder): the failure paragraph.
        self.where: dict[Path, dict[str, str]] = {}

        # Under pytest-xdist every worker is its own process with its own scenarios: its scopes
        # (and so its networks and containers) carry the worker's name, and it writes its part of
        # the summary under workers/, which the controller merges at the end. The worker's name
        # comes from its pytest config, not from PYTEST_XDIST_WORKER: that variable is inherited by
        # every `harness run` a test starts, which is no worker and writes its own summary.json.
        self.worker = worker

    def new_scope(self) -> str:
        self.count += 1
        return f"{self.worker}s{self.count:02d}"

    def write_summary(self) -> Path | None:
        if not self.results and not self._worker_parts():
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        scenarios = [_judged(r) for r in self.results]
        if self.worker:
            path = self.directory / "workers" / f"{self.worker}.json"
            path.parent.mkdir(exist_ok=True)
        else:
            path = self.directory / "summary.json"
            for part in self._worker_parts():
                scenarios += json.loads(part.read_text()).get("scenarios", [])
        data = {
            "run_id": self.run_id,
            "runtime": "docker",
            "started": self.started,
            "scenarios": scenarios,
            "backups": _backup_totals(scenarios),  # the run-wide backup success rate
        }
        total = run_cost(scenarios)  # what the run cost: totals, each scenario, each node
        if total is not None:
            data["cost"] = total.model_dump(mode="json")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(path)
        if self.worker:
            return path
        try:
            from harness.report.summary import write_summaries

            write_summaries(self.directory, data)
        except Exception:  # noqa: BLE001 - summary.json is the record; the views are extras
            pass
        from harness.report.metrics import write_metrics  # the same numbers as metrics.prom (OpenMetrics)

        write_metrics(self.directory, data)
        return path


    def _worker_parts(self) -> list[Path]:
        return [] if self.worker else sorted((self.directory / "workers").glob("*.json"))


def _judged(r: ScenarioResult) -> dict[str, Any]:
    # The one verdict (harness/report/verdict.py): a missed default target reads "failed" here too.
    data = r.to_json()
    data["status"] = verdict.outcome(r.status, r.violations)
    if _RUN is not None:
        data.update(_RUN.where.get(r.directory, {}))
    return data


def _num2(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _backup_totals(scenarios: list[dict[str, Any]]) -> dict[str, Any]:
    """Backups attempted and succeeded over every scenario of the run, and their rate."""
    attempts = succeeded = 0
    for s in scenarios:
        b = (s.get("measurements") or {}).get("backup") or {}
        attempts, succeeded = attempts + int(b.get("attempts", 0)), succeeded + int(b.get("succeeded", 0))
    return {"attempts": attempts, "succeeded": succeeded,
            "success_rate": succeeded / attempts if attempts else None}


_RUN: HarnessRun | None = None
_INTERRUPTED = False  # Ctrl-C or SIGTERM: close drills at once, no waiting for steady probes


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Ctrl-C and SIGTERM alike: mark the run interrupted (drills then close at once, without
    # waiting for steady probes), and unwind: fixtures tear down, faults heal, nodes go.
    global _INTERRUPTED
    _INTERRUPTED = True
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    global _RUN
    # Loaded by harness.steps.entry when a test needs it (which also chose the Allure folder).
    # Reports go to the project's folder (harness.project), not under pytest's rootdir, which
    # `harness run` widens to reach feature files that live elsewhere.
    from harness.steps.entry import reports_root

    workerinput = getattr(config, "workerinput", None)  # set in a pytest-xdist worker only
    _RUN = HarnessRun(reports_root(config), str(workerinput["workerid"]) if workerinput else "")
    config.stash[_RUN_KEY] = _RUN
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, _interrupt)
        except ValueError:  # not the main thread
            pass


_RUN_KEY = pytest.StashKey[HarnessRun]()


@pytest.fixture(scope="session")
def harness_run(pytestconfig: pytest.Config) -> HarnessRun:
    return pytestconfig.stash[_RUN_KEY]


def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
    run: HarnessRun = request.config.stash[_RUN_KEY]
    name = f"{len(run.results) + 1:02d}-{slug(scenario.name)}"
    res = ScenarioResult(feature=feature.name, scenario=scenario.name, directory=run.directory / "scenarios" / name)
    res.tags = sorted(set(getattr(feature, "tags", set())) | set(getattr(scenario, "tags", set())))
    request.node.stash[RESULT] = res
    run.results.append(res)
    run.where[res.directory] = {"location": f"{_relative(feature.filename)}:{scenario.line_number}",
                                "logs": _relative(str(res.directory))}


def _relative(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel  # a file outside the working folder: its whole path


@pytest.fixture
def drill(request: pytest.FixtureRequest, harness_run: HarnessRun) -> Iterator[Drill]:
    res = request.node.stash.get(RESULT, None)
    if res is None:  # used outside a scenario (a plain test)
        res = ScenarioResult(feature="", scenario=request.node.name,
                             directory=harness_run.directory / "tests" / slug(request.node.name))
        request.node.stash[RESULT] = res
        harness_run.results.append(res)
    d = Drill(harness_run.run_id, harness_run.new_scope(), res.directory)
    add_stack_parts(d)  # stacks: split-brain checking by default, the versions section
    d.part(CostMeter)  # what the drill cost: CPU, memory, writes, network per container
    # The client path (harness.clients): the environment's, else HAProxy on Patroni, else direct.
    d.add_part(ClientsPart(d))
    # The servers' logs, counted; an unexpected PANIC fails the scenario. Added after the client
    # path so that it closes first, while HAProxy's and PgBouncer's containers still exist.
    d.part(LogScan)
    request.node.stash[DRILL] = d
    try:
        yield d
    finally:
        _finish(request.node, d)


def _finish(item: pytest.Item, d: Drill) -> None:
    """Close the drill once (heal, measure, remove) and record what it measured."""
    res = item.stash.get(RESULT, None)
    if d.finished:
        return
    d.finished = True
    problems = d.close(settle=not _INTERRUPTED and not d.step_failed)
    if res is not None:
        res.measurements = d._measurements
        res.targets = d.targets
        res.asserted = d.asserted
        res.violations = d.violations()
        res.topology = d.env.topology.model_dump_json()
        res.sections.update(d.result_sections())
        res.faults = fault_results(d._measurements)
        try:
            res.load_phases = load_phases(d.history.events())
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            res.message += f"\n(load phases failed: {exc!r})"
        if problems:
            res.message = (res.message + "\n" if res.message else "") + "; ".join(problems)
        if d.guard is not None and d.guard.reason:
            res.status, res.message = "aborted", d.guard.reason
        elif _INTERRUPTED and res.status == "error":
            res.status, res.message = "aborted", "interrupted (Ctrl-C or SIGTERM)"
    if d.measurements_taken:
        try:
            from harness.report.timeline import timeline_chart

            timeline_chart(d.history.events(), d.directory, title=res.scenario if res else "",
                           measurements=d._measurements)  # noqa: SLF001
        except Exception as exc:  # noqa: BLE001 - a chart problem must not hide the result
            if res is not None:
                res.message += f"\n(timeline chart failed: {exc!r})"
    _attach(d, res)
    run = _RUN
    if run is not None:
        run.write_summary()


def pytest_bdd_before_step(request: pytest.FixtureRequest, step: Any) -> None:
    # Steps on the timeline: the live view shows the current one, the journal keeps them all.
    d = request.node.stash.get(DRILL, None)
    if d is not None and not d.finished:
        d.history.note("step", f"{step.keyword} {step.name}")
    res = request.node.stash.get(RESULT, None)
    if res is not None and _RUN is not None and res.directory in _RUN.where:
        where = _RUN.where[res.directory]
        where["step"] = f"{step.keyword} {step.name} ({where['location'].rsplit(':', 1)[0]}:{step.line_number})"


def pytest_bdd_step_error(request: pytest.FixtureRequest) -> None:
    d = request.node.stash.get(DRILL, None)
    if d is not None:
        d.step_failed = True  # node logs go into the report


@pytest.hookimpl(trylast=True)  # after Allure's: raising here skips the hooks still to run
def pytest_bdd_after_scenario(request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
    d = request.node.stash.get(DRILL, None)
    if d is None:
        return
    _finish(request.node, d)
    _judge_logs(d)
    # One verdict: every step passed but the drill missed a default target (judged only now,
    # at close): the scenario fails here, inside pytest-bdd's call, as a Then step would.
    res = request.node.stash.get(RESULT, None)
    if res is not None and not d.step_failed and sys.exc_info()[1] is None:
        miss = verdict.default_target_miss(res.violations)
        if miss is not None:
            raise miss


def _judge_logs(d: Drill) -> None:
    """Attach the servers' log counts; an unexpected PANIC or BUG fails a scenario whose steps passed."""
    scan = d.maybe_part(LogScan)
    if scan is None or scan.summary is None:
        return
    try:
        import allure

        allure.attach(scan.report, name="server logs: counts and first occurrences",
                      attachment_type=allure.attachment_type.TEXT)
    except ImportError:  # pragma: no cover
        pass
    why = unexpected(scan.summary)
    if why is not None and not d.step_failed:
        raise TargetMissed("server logs", why, "no PANIC, no BUG")


def _attach(d: Drill, res: ScenarioResult | None) -> None:
    try:
        import allure
    except ImportError:  # pragma: no cover
        return
    m = d._measurements
    try:
        # The environment of this scenario, as labels on its page (Allure 3 has no global one).
        t = d.env.topology
        label = cast(Callable[[str, str], None], allure.dynamic.label)  # allure-commons is untyped
        label("runtime", "docker")
        label("environment", d.env.name)
        topo_kind = registry.choose(d.env, d.topology_kind)
        label("topology", (topo_kind.describe_env(d.env) if topo_kind.describe_env else topo_kind.kind)
              + (f" (ANY {t.sync_quorum})" if topo_kind.kind == "streaming" and t.replication == "sync" else ""))
        try:
            from harness.images.build import node_image

            label("image", node_image())
        except Exception:  # noqa: BLE001
            pass
        if m is not None:
            for spec in METRICS:
                v = getattr(m, spec.key, None)
                if spec.optional and v is None:
                    continue  # a number only some drills have (an HA manager's phases, ...)
                # "write RTO: 0.170 s, target < 10 s"; kept out of the history id, which must not
                # change with the numbers.
                target = target_text(spec, d.targets.model_dump())
                allure.dynamic.parameter(spec.label, fmt_value(spec, v) + (f", target {target}" if target else ""),
                                         excluded=True)
            if m.backup is not None:
                b = m.backup
                allure.dynamic.parameter("backup_success_rate", "n/a" if b.success_rate is None else round(b.success_rate, 4))
                for kind, ds in b.durations_s.items():
                    allure.dynamic.parameter(f"backup_{kind}_s", ds)
                for i, r in enumerate(b.restores, 1):
                    f2 = [_num2(v) for v in (r.rto_s, r.fetch_s, r.replay_s, r.verify_s, r.rpo_window_s)]
                    allure.dynamic.parameter(f"restore{i}", f"RTO {f2[0]} s (fetch {f2[1]}, replay {f2[2]}, "
                                             f"verify {f2[3]}); lost {r.lost_writes} writes over {f2[4]} s")
            allure.attach(_table_html(d), name="measurements", attachment_type=allure.attachment_type.HTML)
        if res is not None and res.load_phases:
            rows = "".join(
                f"<tr><td>{p.phase}</td><td>{p.requests}</td><td>{'n/a' if p.error_rate is None else f'{p.error_rate * 100:.2f} %'}</td>"
                + "".join(f"<td>{'n/a' if v is None else f'{v:.1f}'}</td>" for v in (p.p50_ms, p.p95_ms, p.p99_ms))
                + f"<td>{p.seconds:.1f}</td></tr>" for p in res.load_phases)
            allure.attach("<table border=1 cellpadding=4><tr><th>phase</th><th>requests</th><th>errors</th>"
                          "<th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>seconds</th></tr>" + rows + "</table>",
                          name="background load", attachment_type=allure.attachment_type.HTML)
        if res is not None:
            for name, section in res.sections.items():  # what drill parts added
                for field, value in section.model_dump(mode="json").items():
                    allure.dynamic.parameter(f"{name}.{field}", value if isinstance(value, (int, float, str)) else
                                             json.dumps(value))
        from harness.report.dr import dr_html, runbook_steps_html

        for name, piece in (("runbook steps", runbook_steps_html(d.history.events())),
                            ("disaster recovery", dr_html(d.history.events()))):
            if piece is not None:
                allure.attach(piece, name=name, attachment_type=allure.attachment_type.HTML)
        png = d.directory / "timeline.png"
        if png.exists():
            allure.attach.file(str(png), name="timeline", attachment_type=allure.attachment_type.PNG)  # type: ignore[no-untyped-call]
            allure.attach.file(str(d.directory / "timeline.svg"), name="timeline (SVG)",  # type: ignore[no-untyped-call]
                               attachment_type=allure.attachment_type.SVG)
        journal = d.directory / "journal.jsonl"
        if journal.exists():
            allure.attach.file(str(journal)  # type: ignore[no-untyped-call]
                               , name="journal.jsonl", attachment_type=allure.attachment_type.JSON)
        logs = d.directory / "logs"
        if d.step_failed and logs.is_dir():
            for f in sorted(logs.glob("*.log")):
                allure.attach.file(str(f)  # type: ignore[no-untyped-call]
                                   , name=f"log {f.stem}", attachment_type=allure.attachment_type.TEXT)
    except Exception:  # noqa: BLE001 - a report problem must not hide the scenario's result
        pass


def _table_html(d: Drill) -> str:
    m = d._measurements
    assert m is not None
    t = d.targets.model_dump()
    viol = {v.name for v in d.violations()}
    out = ["<table border=1 cellpadding=4><tr><th>measure</th><th>value</th><th>target</th><th>verdict</th></tr>"]
    for spec in METRICS:
        v = getattr(m, spec.key, None)
        if spec.optional and v is None:
            continue
        target = target_text(spec, t)
        verdict = "" if spec.target is None else ("MISSED" if spec.key in viol else "met")
        out.append(f"<tr><td>{html.escape(spec.label)}</td><td>{html.escape(fmt_value(spec, v))}</td>"
                   f"<td>{html.escape(target)}</td><td>{verdict}</td></tr>")
    out.append("</table>")
    if m.ha_failover:  # the HA manager's phases and timeline forks
        out.append("<p>failover phases: " + html.escape(m.ha_failover) + "</p>")
    if m.problems:
        out.append("<p>" + "<br>".join(html.escape(p) for p in m.problems) + "</p>")
    return "\n".join(out)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    res = item.stash.get(RESULT, None)
    if res is None:
        return report
    if report.when == "call" or (report.when == "setup" and report.failed):
        exc = call.excinfo.value if call.excinfo is not None else None
        if report.passed:
            res.status = "passed"
        elif isinstance(exc, KeyboardInterrupt):
            res.status = "aborted"
            d = item.stash.get(DRILL, None)
            if d is not None and d.guard is not None and d.guard.reason:
                exc = KeyboardInterrupt(d.guard.reason)
        elif isinstance(exc, (TargetMissed, AssertionError)) and not isinstance(exc, HarnessError) or isinstance(exc, TargetMissed):
            res.status = "failed"
        else:
            res.status = "error"  # the verdict reads it as "broken" (harness/report/verdict.py)
        if exc is not None and res.status == "error":
            from harness.runtime.docker_client import lost_daemon

            gone = lost_daemon(exc)
            if gone is not None:  # say so plainly, not as the SDK's HTTP error
                exc = gone
                report.longrepr = f"DockerUnavailable: {gone}"
        if exc is not None:
            res.message = redact(f"{type(exc).__name__}: {exc}")
        if exc is not None and type(exc).__name__ == "StepDefinitionNotFoundError":
            hint = _suggest(str(exc))
            res.message += hint
            report.longrepr = redact(f"{exc}{hint}")
        if exc is not None and not isinstance(exc, KeyboardInterrupt) and item.config.option.tbstyle == "auto":
            report.longrepr = _paragraph(item, res, exc)
        if _RUN is not None:
            _RUN.write_summary()
    return report


def _paragraph(item: pytest.Item, res: ScenarioResult, exc: BaseException) -> str:
    """The failure in one paragraph (no traceback unless --tb asks for one)."""
    where = _RUN.where.get(res.directory, {}) if _RUN is not None else {}
    outcome = verdict.outcome(res.status, res.violations)
    message = res.message.split(": ", 1)[1] if outcome == "failed" and ": " in res.message else res.message
    step = where.get("step", "")
    if isinstance(exc, verdict.DefaultTargetMissed):
        step = "after the last step: the environment's default targets, judged when the drill closed"
    logs = where.get("logs", "")
    if logs:
        logs += "/ (journal.jsonl, logs/)"
    return redact(verdict.paragraph(outcome, message, scenario=res.scenario, location=where.get("location", ""),
                                    step=step, logs=logs))


def _example(phrase: str) -> str:
    """A phrasing with its parameters filled by typical values, to compare with what was written."""
    import re

    return re.sub(r"\{(\w+)(?::(\w+))?\}", lambda m: example_value(m.group(2) or "", m.group(1)), phrase)


def _suggest(message: str) -> str:
    """Closest known phrasings for an unknown step, from the error text."""
    import re

    # The step's own text may hold quotes ('alert "database down"'): it ends at '". Line N'.
    m = re.search(r'Step definition is not found: (?:Given|When|Then|And|But) "(.*?)"(?:\. Line \d+|$)', message)
    text = m.group(1) if m else message
    pool = known_phrasings()
    scored = sorted(pool, key=lambda p: -difflib.SequenceMatcher(None, text.lower(), _example(p).lower()).ratio())
    close = [p for p in scored[:5] if difflib.SequenceMatcher(None, text.lower(), _example(p).lower()).ratio() > 0.4]
    problem = _value_problem(text, pool)
    if not close:
        return problem
    return problem + "\n  did you mean:\n" + "\n".join(f"    {c}" for c in close)


def _value_problem(text: str, pool: list[str]) -> str:
    """When a step's words match a phrasing but one of its values does not (a negative duration,
    an unknown unit, 120 %), say which value and what is expected, rather than only 'not found'."""
    import re

    from harness.steps.types import EXTRA_TYPES

    for phrase in pool:
        fields: list[tuple[str, str]] = []
        parts = re.split(r"(\{\w+(?::\w+)?\})", phrase)
        regex = ""
        for part in parts:
            m = re.fullmatch(r"\{(\w+)(?::(\w+))?\}", part)
            if m:
                fields.append((m.group(1), m.group(2) or ""))
                regex += r"(.+?)"
            else:
                regex += re.escape(part)
        found = re.fullmatch(regex, text.strip())
        if not found:
            continue
        for (name, kind), value in zip(fields, found.groups(), strict=True):
            convert = EXTRA_TYPES.get(kind)
            pattern = getattr(convert, "pattern", r"\d+" if kind == "d" else None)
            if pattern is None or re.fullmatch(pattern, value):
                try:
                    if convert is not None:
                        convert(value)
                    continue
                except ValueError as exc:
                    why = str(exc)
            else:
                why = f"expected {type_hint(kind)}"
                if value.lstrip().startswith("-"):
                    why = f"a negative value cannot be a target or a duration; {why}"
            return f"\n  bad value for {name!r} in {phrase!r}: {value!r}: {why}"
    return ""


def pytest_keyboard_interrupt(excinfo: Any) -> None:
    global _INTERRUPTED
    _INTERRUPTED = True
    run = _RUN
    if run is None:
        return
    for r in run.results:
        if r.status == "error" and not r.message:
            r.status = "aborted"
            r.message = "interrupted"
    run.write_summary()


def _write_allure_environment(config: pytest.Config, run: HarnessRun) -> None:
    """environment.properties beside the results: what ran where (Allure shows it on the overview)."""
    results = getattr(config.option, "allure_report_dir", None)
    if not results or not Path(results).is_dir():
        return
    import platform

    import harness

    props = {"harness": harness.__version__, "run": run.run_id, "runtime": "docker", "python": platform.python_version()}
    try:
        from harness.images.build import node_image
        from harness.runtime.docker_client import docker_client

        props["docker.server"] = str(docker_client().version().get("Version", "?"))
        props["node.image"] = node_image()
        props |= allure_environment(run.results)  # stacks: each stack's versions, read from its image
    except Exception:  # noqa: BLE001 - the environment is a courtesy; never fail a run for it
        pass
    topologies = sorted({r.topology for r in run.results if r.topology})
    for i, t in enumerate(topologies, 1):
        props[f"topology.{i}"] = t
    lines = [redact(f"{k}={str(v).replace(chr(10), ' ')}") for k, v in props.items()]
    (Path(results) / "environment.properties").write_text("\n".join(lines) + "\n")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = _RUN
    if run is not None and run.results:
        _write_allure_environment(session.config, run)
        results = getattr(session.config.option, "allure_report_dir", None)
        if results:
            verdict.write_categories(Path(results))
    if run is not None and (run.results or run._worker_parts()):
        path = run.write_summary()
        if path is not None:
            tr = session.config.pluginmanager.get_plugin("terminalreporter")
            if tr is not None:
                tr.write_line(f"harness: run {run.run_id}: {path}")
