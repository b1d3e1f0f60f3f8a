"""`kaosgen status`: each rendered workload's phase in a live cluster (read-only)."""

from __future__ import annotations

import re
import sys

import click

from kaosgen.commands.common import (
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_USAGE,
    compile_inputs,
    complete_env,
    describe_inputs,
    fail,
    paths_argument,
    pick_env,
    project_option,
    report,
    verbose_option,
)


class Duration(click.ParamType):
    """A kubectl-style duration: `500ms`, `2s`, `1m`, or plain seconds."""

    name = "duration"
    _UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "": 1.0}

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        match = re.fullmatch(r"([0-9]*\.?[0-9]+)(ms|s|m|h)?", str(value).strip())
        if match is None or float(match[1]) <= 0:
            self.fail(f"{value!r} is not a duration like 500ms, 2s or 1m", param, ctx)
        return float(match[1]) * self._UNITS[match[2] or ""]


@click.command()
@paths_argument
@project_option
@click.option("--context", help="kubeconfig context (default: the current context).")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    envvar="KUBECONFIG",
    help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config).",
)
@click.option("-n", "--namespace", help="Look in this namespace (default: the environment's).")
@click.option(
    "-e",
    "--env",
    "env",
    shell_complete=complete_env,
    help="Environment whose namespace to read (optional with one environment).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="A table, or JSON with every condition.",
)
@click.option(
    "--request-timeout",
    "timeout",
    type=Duration(),
    default="1s",
    show_default=True,
    help="How long to wait for the API server, all requests together (e.g. 500ms, 10s, 1m).",
)
@verbose_option
def status(
    paths: tuple[str, ...],
    project_file: str | None,
    context: str | None,
    kubeconfig: str | None,
    namespace: str | None,
    env: str | None,
    fmt: str,
    timeout: float,
    verbose: bool,
) -> None:
    """Show each rendered workload's phase in a live cluster (read-only).

    The phase KAOS would show: Ready, Pending or Failed (or Missing), with the
    Deployment's replica counts and conditions. Only lists Deployments; never writes.
    Exit 0 when every workload is Ready, 1 otherwise, 2 when the cluster cannot be read
    (within --request-timeout; the message names the server and the kubeconfig).
    """
    from kaosgen import status as status_mod

    compilation = compile_inputs(paths, project_file, render=False)
    report(compilation, "text", quiet=True)
    if not compilation.ok or compilation.graph is None:
        sys.exit(EXIT_ERRORS)
    env_name = pick_env(
        compilation,
        env,
        required=namespace is None and len(compilation.project.project.environments) > 1,
    )
    environment = compilation.project.project.environments.get(env_name) if env_name else None
    workloads = []
    for node in compilation.graph.workloads():
        ns = namespace or (environment.namespace if environment else None) or node.namespace or ""
        workloads.append((node.kind, node.name, ns, node.object_name))
    if verbose:
        describe_inputs(compilation, output=False)
        click.echo(f"kubeconfig: {kubeconfig or status_mod.default_kubeconfig()}", err=True)
        spaces = sorted({w[2] or "(the context's)" for w in workloads})
        click.echo(f"namespaces: {', '.join(spaces)}", err=True)
    try:
        rows = status_mod.collect(
            workloads, context=context, kubeconfig=kubeconfig, timeout=timeout
        )
    except status_mod.StatusError as exc:
        fail(str(exc), EXIT_USAGE)
    click.echo(
        status_mod.format_json(rows) if fmt == "json" else status_mod.format_table(rows), nl=False
    )
    sys.exit(EXIT_OK if rows and all(r.phase == "Ready" for r in rows) else EXIT_ERRORS)
