"""From a plan to local processes: ports, loopback URLs, mounted files, argv.

The rendered env is kept as it is except where the cluster and this machine differ:
a Service URL (`http://agent-x:8000`, with or without `.<ns>.svc.cluster.local`) becomes
the loopback URL of the workload's process (or `--model-url`); a path under a mounted
volume becomes the same path under a temporary directory holding the ConfigMap and Secret
files; the process listens on its local port, on loopback only (`AGENT_PORT`/`AGENT_HOST`,
`MCP_PORT`/`MCP_HOST`, `--port`/`--bind`).
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from kaosgen.up import models
from kaosgen.up.models import executable
from kaosgen.up.plan import Plan, Workload

#: Caller variables a process still needs on a workstation (the rest of the caller's env,
#: its secrets included, stays out, as it would in a pod).
PASSED_THROUGH = (
    "PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT", "VIRTUAL_ENV",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
)  # fmt: skip
KAOSGEN_IMAGES = {"agent": "agent-runtime", "mcpserver": "mcp-runtime"}


@dataclass
class Process:
    """One workload as it runs here."""

    workload: Workload
    port: int
    argv: list[str] | None  # None: nothing to start (external --model-url, not runnable)
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    how: str = ""
    probe_path: str | None = None
    after_ready: list[list[str]] = field(default_factory=list)
    not_runnable: str | None = None
    rendered_env: bool = True  # False: a local model server, on its own env only
    #: argv[start:stop] came from the rendered command/args (only those are localized:
    #: the executables and files found on this machine are local paths already).
    rendered_args: tuple[int, int] = (0, 0)

    @property
    def name(self) -> str:
        return self.workload.name


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether something on this machine already listens on loopback `port` (a stranger
    there would answer our readiness checks and smoke requests in our process's stead)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def allocate_ports(plan: Plan, port_base: int | None) -> dict[str, int]:
    """A port per workload: `port_base + i` in name order, else a free one each."""
    names = [w.name for w in plan.workloads]
    if port_base is not None:
        return {name: port_base + i for i, name in enumerate(names)}
    return {name: free_port() for name in names}


def own_image(workload: Workload, own_repositories: dict[str, set[str]]) -> bool:
    """Whether a workload runs on kaosgen's agent or MCP server image (the registry may
    differ: an environment's `registry:` rewrites only the host)."""
    from kaosgen.imageref import parse

    try:
        path = parse(workload.image).path
    except ValueError:
        return False
    wanted = own_repositories.get(workload.role, set())
    return any(path == p or path.endswith("/" + p.rsplit("/", 1)[-1]) for p in wanted)


def localize(
    plan: Plan,
    ports: dict[str, int],
    workdir: Path,
    *,
    model_url: str | None,
    own_repositories: dict[str, set[str]],
) -> list[Process]:
    processes = [_process(w, ports[w.name], model_url, own_repositories) for w in plan.workloads]
    urls = {(sp.service, sp.port): p.url for p in processes for sp in p.workload.services if p.url}
    for process in processes:
        if process.argv is None:
            continue
        paths = _materialize(process.workload, workdir / process.name)
        rendered = process.workload.env if process.rendered_env else {}
        env = {k: _local(v, urls, paths) for k, v in rendered.items()}
        env.update(process.env)
        process.env = {**_base_env(), **env}
        start, stop = process.rendered_args
        process.argv = [
            _local(a, urls, paths) if start <= i < stop else a for i, a in enumerate(process.argv)
        ]
    return processes


def _process(
    workload: Workload, port: int, model_url: str | None, own: dict[str, set[str]]
) -> Process:
    url = f"http://127.0.0.1:{port}"
    process = Process(workload, port, None, url=url, probe_path=workload.probe_path)
    if workload.role == "agent" and own_image(workload, own):
        process.argv = [_script("kaos-agent")]
        process.env = {"AGENT_PORT": str(port), "AGENT_HOST": "127.0.0.1"}
        process.how = "kaos-agent"
    elif workload.role == "mcpserver" and own_image(workload, own):
        process.argv = [_script("kaos-mcp-server")]
        process.env = {"MCP_PORT": str(port), "MCP_HOST": "127.0.0.1"}
        process.how = "kaos-mcp-server"
    elif workload.role == "modelapi":
        run = models.choose(workload, port, model_url)
        process.how = run.how
        if run.error:
            process.not_runnable = run.error
            process.url = ""
        elif run.url:
            process.url = run.url
        else:
            process.argv = run.argv
            process.env = run.env
            process.probe_path = run.probe_path
            process.after_ready = run.after_ready
            process.rendered_env = run.rendered_env
            process.rendered_args = run.rendered_args
    elif workload.role == "redis" and executable("redis-server"):
        server = executable("redis-server") or "redis-server"
        rendered = _redis_argv(workload, server)
        process.argv = [*rendered, "--port", str(port), "--bind", "127.0.0.1"]
        process.rendered_args = (0 if workload.command else 1, len(rendered))
        process.how = f"redis-server ({server})"
        path = os.pathsep.join([str(Path(server).parent), os.environ.get("PATH", "")])
        process.env = {"PATH": path}
        process.probe_path = None
        process.url = f"redis://127.0.0.1:{port}"
    else:
        what = "redis-server is not on PATH" if workload.role == "redis" else "not a kaosgen image"
        process.not_runnable = f"image {workload.image} is not runnable locally ({what})"
        process.url = ""
    return process


def _script(name: str) -> str:
    return executable(name) or name


def _redis_argv(workload: Workload, server: str) -> list[str]:
    """The rendered command and args (its shell wrapper reads the password file, then
    execs `redis-server` from PATH: the local one's directory goes first on it)."""
    return [*workload.command, *workload.args] if workload.command else [server, *workload.args]


def _base_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
    for key in ("NO_PROXY", "no_proxy"):
        if key in env or any(k in env for k in ("HTTP_PROXY", "http_proxy")):
            env[key] = ",".join(filter(None, [env.get(key, ""), "127.0.0.1", "localhost"]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _materialize(workload: Workload, root: Path) -> dict[str, str]:
    """Write the mounted files under `root`; mountPath -> local directory."""
    paths: dict[str, str] = {}
    for index, mount in enumerate(workload.mounts):
        local = root / f"{index}-{mount.volume}"
        local.mkdir(parents=True, exist_ok=True)
        for rel, text in mount.files.items():
            target = local / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            target.chmod(0o600)
        paths[mount.path.rstrip("/") or "/"] = str(local)
    return paths


def _local(text: str, urls: dict[tuple[str, int], str], paths: dict[str, str]) -> str:
    text = _rewrite_urls(text, urls)
    if not paths:
        return text
    # One pass, longest mount first: a replaced path is never rewritten again.
    alternatives = "|".join(re.escape(p) for p in sorted(paths, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w/.-])({alternatives})(?=/|$|[\s\"':;])")
    return pattern.sub(lambda m: paths[m.group(1)], text)


_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<user>[^@/\s]*@)?"
    r"(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*):(?P<port>\d+)"
)


def _rewrite_urls(text: str, urls: dict[tuple[str, int], str]) -> str:
    def replace(match: re.Match[str]) -> str:
        service = match["host"].split(".", 1)[0]
        rest = match["host"][len(service) :]
        if rest and not re.fullmatch(r"(\.[a-z0-9-]+(\.svc(\.cluster\.local)?)?)", rest):
            return match.group(0)
        target = urls.get((service, int(match["port"])))
        if target is None:
            return match.group(0)
        scheme, _, address = target.partition("://")
        if scheme in ("http", "https") and match["scheme"] in ("http", "https", scheme):
            if address.startswith("127.0.0.1:") and match["user"] is None:
                return f"{match['scheme']}://{address}"
            return target if match["user"] is None else f"{scheme}://{match['user']}{address}"
        return f"{match['scheme']}://{match['user'] or ''}{address}"

    return _URL.sub(replace, text)
