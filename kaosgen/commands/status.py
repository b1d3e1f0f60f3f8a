"""`kaosgen status`: each rendered workload's phase in a live cluster (read-only)."""

from __future__ import annotations

import os
import sys

import click

from kaosgen.commands.common import (
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_USAGE,
    compile_inputs,
    fail,
    paths_argument,
    pick_env,
    project_option,
    report,
)


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
    help="Environment whose namespace to read (optional with one environment).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def status(
    paths: tuple[str, ...],
    project_file: str | None,
    context: str | None,
    kubeconfig: str | None,
    namespace: str | None,
    env: str | None,
    fmt: str,
) -> None:
    """Show each rendered workload's phase in a live cluster (read-only).

    The phase KAOS would show: Ready, Pending or Failed (or Missing), with the
    Deployment's replica counts and conditions. Only lists Deployments; never writes.
    Exit 0 when every workload is Ready, 1 otherwise, 2 when the cluster cannot be read.
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
    if kubeconfig and os.pathsep in kubeconfig:
        kubeconfig = kubeconfig.split(os.pathsep)[0]
    try:
        rows = status_mod.collect(workloads, context=context, kubeconfig=kubeconfig)
    except status_mod.StatusError as exc:
        fail(str(exc), EXIT_USAGE)
    click.echo(
        status_mod.format_json(rows) if fmt == "json" else status_mod.format_table(rows), nl=False
    )
    sys.exit(EXIT_OK if rows and all(r.phase == "Ready" for r in rows) else EXIT_ERRORS)
