"""`kaosgen up` from a compilation to running processes, and back to nothing on Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kaosgen.up.localize import Process, allocate_ports, localize, port_in_use
from kaosgen.up.plan import Plan, build_plan
from kaosgen.up.supervisor import StartError, Supervisor, http_ready, tcp_ready
from kaosgen.up.values import ValuesError, from_objects, read_env_file


class UpError(RuntimeError):
    """Nothing can start (missing Secrets, nothing runnable, kustomize failed...)."""


def environment_objects(files: dict[str, str], env: str) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize overlays/<env>` builds from the in-memory render."""
    from ruamel.yaml import YAML

    from kaosgen.kustomize import KustomizeError, build_overlay

    try:
        text = build_overlay(files, env)
    except KustomizeError as exc:
        raise UpError(str(exc)) from None
    return [doc for doc in YAML(typ="safe").load_all(text) if isinstance(doc, dict)]


def own_repositories(project: Any, env: str) -> dict[str, set[str]]:
    """The repositories of kaosgen's runtime images in this environment."""
    from kaosgen.imageref import parse

    images = project.images
    overrides = project.environments[env].images or {}
    result: dict[str, set[str]] = {"agent": set(), "mcpserver": set()}
    for role, default, key in (
        ("agent", images.agent, "agent"),
        ("mcpserver", images.mcp_server, "mcpServer"),
    ):
        for ref in filter(None, (default, overrides.get(key))):
            with contextlib.suppress(ValueError):
                result[role].add(parse(str(ref)).path)
    return result


def caller_values(env_files: tuple[str, ...]) -> dict[str, str]:
    provided = dict(os.environ)
    try:
        for path in env_files:
            provided.update(read_env_file(Path(path)))
    except ValuesError as exc:
        raise UpError(str(exc)) from None
    return provided


def skipped(processes: list[Process]) -> dict[str, str]:
    """Workloads that will not start: not runnable, or needing one that will not."""
    reasons = {p.name: p.not_runnable for p in processes if p.not_runnable}
    changed = True
    while changed:
        changed = False
        for process in processes:
            if process.name in reasons:
                continue
            blocked = sorted(process.workload.depends_on & reasons.keys())
            if blocked:
                reasons[process.name] = f"needs {', '.join(blocked)}, which cannot start"
                changed = True
    return {k: v for k, v in reasons.items() if v}


def start_order(processes: list[Process]) -> list[list[Process]]:
    """Levels: each process after the ones it depends on (a cycle starts together)."""
    names = {p.name for p in processes}
    done: set[str] = set()
    levels: list[list[Process]] = []
    remaining = list(processes)
    while remaining:
        level = [p for p in remaining if (p.workload.depends_on & names) <= done]
        level = level or remaining
        levels.append(level)
        done |= {p.name for p in level}
        remaining = [p for p in remaining if p.name not in done]
    return levels


@contextlib.contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set an event (the main loop stops everything, then exits 0)."""
    stop = threading.Event()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _missing_report(plan: Plan, starting: set[str]) -> str | None:
    """Every missing value once, with the workloads that need it."""
    needed: dict[tuple[str, str | None, str], list[str]] = {}
    for workload, m in plan.missing:
        if workload in starting:
            needed.setdefault((m.what, m.variable, m.hint), []).append(workload)
    if not needed:
        return None
    lines = [
        f"  {what}{f' (variable {variable})' if variable else ''}, needed by "
        f"{', '.join(workloads)}: {hint}"
        for (what, variable, hint), workloads in needed.items()
    ]
    return "values the pods read are missing; nothing was started:\n" + "\n".join(lines)


def run_up(
    compilation: Any,
    env: str,
    *,
    env_files: tuple[str, ...] = (),
    model_url: str | None = None,
    port_base: int | None = None,
    smoke: bool = False,
    timeout: float = 180.0,
    out: Any = None,
) -> bool:
    out = out or sys.stdout
    objects = environment_objects(compilation.files, env)
    plan = build_plan(objects, from_objects(objects, caller_values(env_files)))
    if not plan.workloads:
        raise UpError(f"environment {env!r} has no workloads to run")
    project = compilation.project.project
    workdir = Path(tempfile.mkdtemp(prefix="kaosgen-up-"))
    try:
        ports = allocate_ports(plan, port_base)
        processes = localize(
            plan,
            ports,
            workdir,
            model_url=model_url,
            own_repositories=own_repositories(project, env),
        )
        reasons = skipped(processes)
        starting = [p for p in processes if p.name not in reasons]
        problem = _missing_report(plan, {p.name for p in starting if p.argv is not None})
        if problem:
            raise UpError(problem)
        for name, reason in sorted(reasons.items()):
            print(f"not started: {name}: {reason}", file=out)
        busy = [p for p in starting if p.argv is not None and port_in_use(p.port)]
        if busy:
            raise UpError(
                "; ".join(f"port {p.port} ({p.name}) is already in use" for p in busy)
                + (
                    ": choose another --port-base"
                    if port_base is not None
                    else ": another program took it; run again"
                )
            )
        if model_url and not _answers(model_url):
            print(
                f"warning: --model-url {model_url} does not answer GET /v1/models; agents "
                "that wait for their ModelAPI will not become ready until it does",
                file=out,
            )
        if not [p for p in starting if p.argv is not None]:
            raise UpError("no workload of this environment can run locally")
        return _run(
            starting, out, workdir, smoke=smoke, timeout=timeout, env=env, left_out=len(reasons)
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _answers(model_url: str) -> bool:
    """Whether an OpenAI-compatible server answers at `model_url` (any status below 500)."""
    import requests

    base = model_url.rstrip("/")
    url = (base if base.endswith("/v1") else base + "/v1") + "/models"
    try:
        return requests.get(url, timeout=3).status_code < 500
    except requests.RequestException:
        return False


def _run(
    processes: list[Process],
    out: Any,
    workdir: Path,
    *,
    smoke: bool,
    timeout: float,
    env: str,
    left_out: int = 0,
) -> bool:
    width = max(len(p.name) for p in processes)
    supervisor = Supervisor(out, width)
    for process in processes:
        if process.workload.role == "modelapi":
            supervisor.announce(
                f"{process.name}: {process.workload.mode} ModelAPI runs as {process.how}"
            )
    with stop_signals() as stop:
        try:
            for level in start_order(processes):
                _start_level(supervisor, level, workdir, timeout, stop)
        except StartError as exc:
            interrupted = stop.is_set()
            if not interrupted:
                supervisor.announce(f"error: {exc}")
            supervisor.stop_all()
            return interrupted
        supervisor.announce(_table(processes, env, left_out))
        if smoke:
            ok = _smoke(processes, supervisor)
            supervisor.stop_all()
            return ok
        supervisor.announce("running; Ctrl-C stops everything")
        while not stop.wait(0.5):
            for running in supervisor.dead():
                supervisor.announce(
                    f"{running.name} exited with code {running.popen.returncode}; its last "
                    f"lines:\n{running.last_lines()}"
                )
            if all(r.popen.poll() is not None for r in supervisor.running):
                supervisor.stop_all()
                supervisor.announce("every process has exited")
                return False
        supervisor.announce("stopping...")
        supervisor.stop_all()
        return True


def _start_level(
    supervisor: Supervisor,
    level: list[Process],
    workdir: Path,
    timeout: float,
    stop: threading.Event,
) -> None:
    started = []
    for process in level:
        if process.argv is None:
            continue
        cwd = workdir / process.name
        cwd.mkdir(parents=True, exist_ok=True)
        started.append(
            (process, supervisor.start(process.name, process.argv, process.env, str(cwd)))
        )
    for process, running in started:
        if process.probe_path is not None:
            url = f"http://127.0.0.1:{process.port}{process.probe_path}"
            supervisor.wait_ready(running, lambda u=url: http_ready(u), timeout, stop)
        else:
            supervisor.wait_ready(running, lambda p=process.port: tcp_ready(p), timeout, stop)
        for argv in process.after_ready:
            supervisor.run_once(process.name, argv, process.env, str(workdir / process.name))


def _table(processes: list[Process], env: str, left_out: int) -> str:
    rows = [("WORKLOAD", "RUNS AS", "URL")]
    rows += [(p.name, p.how or "-", p.url or "-") for p in processes]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    ready = f"environment {env}: every workload is ready"
    # The workloads left out were listed first (`not started: ...`): never claim them.
    lines = [ready + (f" but the {left_out} not started above" if left_out else "")]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def _smoke(processes: list[Process], supervisor: Supervisor) -> bool:
    from kaosgen.up.smoke import ask

    agents = [p for p in processes if p.workload.role == "agent" and p.workload.exposed]
    if not agents:
        supervisor.announce("smoke: no exposed agent to ask")
        return False
    ok = True
    for process in agents:
        answer = ask(process.workload.resource, process.url)
        status = "answered" if answer.ok else "FAILED"
        supervisor.announce(f"smoke: {process.name} {status}: {answer.text}")
        ok = ok and answer.ok
    return ok
