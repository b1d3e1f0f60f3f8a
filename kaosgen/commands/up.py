"""`kaosgen up`: run one environment of a project locally, from its rendered manifests."""

from __future__ import annotations

import sys
from typing import Any

import click

from kaosgen.commands.common import (
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_USAGE,
    color_option,
    compile_inputs,
    complete_env,
    fail,
    failed,
    paths_argument,
    project_option,
    report,
)


@click.command()
@paths_argument
@project_option
@click.option(
    "-e",
    "--env",
    "env",
    shell_complete=complete_env,
    envvar="KAOSGEN_ENV",
    help="Environment to run (env KAOSGEN_ENV; default: the first in kaosgen.yaml).",
)
@click.option(
    "--env-file",
    "env_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="NAME=value lines for Secrets not kept in git (repeatable; wins over the caller's "
    "environment). A Secret key is found as the container variable's name or as "
    "<SECRET>_<KEY> in upper snake case.",
)
@click.option(
    "--model-url",
    metavar="URL",
    help="Point every Hosted ModelAPI at this OpenAI-compatible server instead of running one.",
)
@click.option(
    "--port-base",
    type=click.IntRange(1024, 65000),
    help="Stable ports: the workloads get PORT_BASE, PORT_BASE+1, ... in name order "
    "(default: a free port each).",
)
@click.option(
    "--smoke",
    is_flag=True,
    help="Start everything, send one chat completion to each exposed agent, print the "
    "answers, stop; exit 0 only if every agent answered.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=180,
    show_default=True,
    help="Seconds each workload may take to become ready.",
)
@color_option
def up(
    paths: tuple[str, ...],
    project_file: str | None,
    env: str | None,
    env_files: tuple[str, ...],
    model_url: str | None,
    port_base: int | None,
    smoke: bool,
    timeout: float,
    color: str,
) -> None:
    """Run one environment as local processes, with the env its pods would get.

    Renders the environment in memory (nothing is written next to the inputs), then starts
    one process per workload: agents as `kaos-agent`, MCP servers as `kaos-mcp-server`,
    Proxy ModelAPIs as the LiteLLM proxy, Hosted ones with ollama, llama-cpp-python
    (SmolLM2-135M) or --model-url, the Redis component with `redis-server`. Service URLs
    become loopback URLs. Logs are prefixed with the workload; Ctrl-C stops everything.
    PATHS default to the current directory.
    """
    from kaosgen.up.run import UpError, run_up

    compilation = compile_inputs(paths, project_file, render=True)
    report(compilation, "text", quiet=True, color=color)
    if failed([compilation]):
        sys.exit(EXIT_ERRORS)
    environments = list(compilation.project.project.environments)
    if env is None:
        env = environments[0]
    elif env not in environments:
        fail(
            f"unknown environment {env!r}; kaosgen.yaml defines {', '.join(sorted(environments))}",
            EXIT_USAGE,
        )
    options: dict[str, Any] = {
        "env_files": env_files,
        "model_url": model_url,
        "port_base": port_base,
        "smoke": smoke,
        "timeout": timeout,
    }
    try:
        ok = run_up(compilation, env, **options)
    except UpError as exc:
        fail(str(exc))
    sys.exit(EXIT_OK if ok else EXIT_ERRORS)
